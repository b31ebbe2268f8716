/**
 * Credentials that users put in URLs (`https://user:pass@host/`) never reach a log line, an output,
 * a job summary or a report: they are replaced by `***`.
 */

// The user-info ends at the last '@' before the host (as URL parsers read it), so an unencoded '@' in a
// password is redacted with the rest.
const URL_WITH_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>]+)@/gi;

/** Replaces the user-info part of every URL in the text: `https://u:p@h/x` -> `https://***@h/x`. */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_WITH_USERINFO, '$1***@');
}

/** The URL without its credentials (for display), and the credentials it held (for a header). */
export function splitUrlCredentials(url: string): { url: string; username?: string; password?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url: redactUrlCredentials(url) };
  }
  if (!parsed.username && !parsed.password) return { url };
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), ...(username ? { username } : {}), ...(password ? { password } : {}) };
}
