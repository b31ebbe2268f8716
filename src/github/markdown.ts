import { redactUrlCredentials, splitUrlCredentials } from '../common/redact.js';

/**
 * Markdown building blocks for text that comes from users and servers (release files, error causes,
 * URIs): nothing in it can break a table, start a link or inject HTML, and no credential in a URL
 * reaches the page.
 */

// ASCII punctuation that has a meaning in GitHub-flavoured markdown inside a line (backslash-escaped
// punctuation is shown as itself).
const MARKDOWN_PUNCTUATION = /[\\`*_{}[\]<>()#+!|~&$]/g;

/** Text for one table cell: credentials redacted, markdown escaped, line breaks as <br>, shortened. */
export function cell(text: string, max = 600): string {
  let t = redactUrlCredentials(text).trim();
  if (t.length > max) t = `${t.slice(0, max)}…`;
  return t
    .replace(MARKDOWN_PUNCTUATION, (c) => `\\${c}`)
    .replace(/\r\n|\r|\n/g, '<br>')
    .replace(/\s+$/g, '');
}

/** A link when the URL is http(s), otherwise the escaped text; credentials removed either way. */
export function link(label: string, url: string | undefined): string {
  if (!url) return cell(label);
  // Credentials are dropped from the link (a link with *** in it would not work either).
  const safe = splitUrlCredentials(url.trim()).url;
  if (!/^https?:\/\//i.test(safe)) return cell(label);
  // Characters that would end the destination or the table cell are percent-encoded.
  const destination = safe.replace(
    /[\s()<>|`\\"']/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
  return `[${cell(label, 120)}](${destination})`;
}

/** A table row from already-escaped cells. */
export function row(cells: string[]): string {
  return `| ${cells.map((c) => c || ' ').join(' | ')} |`;
}
