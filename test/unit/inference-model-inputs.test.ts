/**
 * Rows built as the model declares its inputs, a Python traceback shown as its exception, an HTML page
 * told from a model server's JSON. The shapes are those MLServer 1.6 and KServe 0.13 answer.
 */
import { describe, expect, it } from 'vitest';
import { errorText, htmlPage, pythonException } from '../../src/inference/endpoint.js';
import { declaredInputs, v2RequestForModel } from '../../src/inference/protocol.js';

// GET /v2/models/iris of MLServer's MLflow runtime, for a model with a column signature and one with a tensor signature.
const columnsMetadata = {
  name: 'iris',
  inputs: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'].map((name) => ({
    name,
    datatype: 'FP64',
    shape: [-1, 1],
    parameters: { content_type: 'np' },
  })),
  parameters: { content_type: 'pd' },
};
const tensorMetadata = {
  name: 'iris',
  inputs: [{ name: 'input-0', datatype: 'FP64', shape: [-1, 4], parameters: { content_type: 'np' } }],
};
const rows = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3, 5.2, 2.3],
];

describe('v2RequestForModel', () => {
  it('a column signature: one input per column, declared names and datatypes', () => {
    const { request, form } = v2RequestForModel(rows, declaredInputs(columnsMetadata));
    expect(request.parameters).toEqual({ content_type: 'pd' });
    expect(request.inputs.map((i) => [i.name, i.datatype, i.shape, i.data])).toEqual([
      ['sepal_length', 'FP64', [2], [5.1, 6.7]],
      ['sepal_width', 'FP64', [2], [3.5, 3]],
      ['petal_length', 'FP64', [2], [1.4, 5.2]],
      ['petal_width', 'FP64', [2], [0.2, 2.3]],
    ]);
    expect(form).toMatch(/^inputs sepal_length FP64 \[2\].*one input per column/);
  });

  it('a tensor signature: the declared name and datatype (whole numbers stay FP64)', () => {
    const { request, form } = v2RequestForModel([[5, 3, 1, 0]], declaredInputs(tensorMetadata));
    expect(request.inputs).toEqual([{ name: 'input-0', shape: [1, 4], datatype: 'FP64', data: [5, 3, 1, 0] }]);
    expect(form).toBe('tensor input-0 FP64 [1, 4] (the tensor the model declares)');
  });

  it('a row of the wrong width names the declared inputs', () => {
    expect(() => v2RequestForModel([[1, 2, 3]], declaredInputs(columnsMetadata))).toThrow(
      /each row has 3 value\(s\) but the model declares 4 inputs, one per column: sepal_length \(FP64 \[-1, 1\]\).*petal_width/,
    );
    expect(() => v2RequestForModel([[1, 2, 3]], declaredInputs(tensorMetadata))).toThrow(
      /declares one input input-0 \(FP64 \[-1, 4\]\): rows of 4 values/,
    );
  });

  it('object rows must name the declared columns', () => {
    expect(() => v2RequestForModel([{ sepal_length: 1 }], declaredInputs(columnsMetadata))).toThrow(
      /missing sepal_width, petal_length, petal_width/,
    );
  });

  it('no declared inputs (KServe answers inputs: []), or input-name given: the plain build', () => {
    expect(v2RequestForModel(rows, declaredInputs({ inputs: [] })).form).toBe(
      'tensor input-0 FP64 [2, 4] (the model declares no inputs)',
    );
    expect(v2RequestForModel(rows, declaredInputs(tensorMetadata), { name: 'x' }).request.inputs[0]?.name).toBe('x');
  });
});

// The end of MLServer's 500 (debug on, KServe's default) for a request without petal_width.
const traceback = `Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/mlflow/models/utils.py", line 1267, in _enforce_schema
    raise MlflowException(message)
mlflow.exceptions.MlflowException: Model is missing inputs ['petal_width'].

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/starlette/middleware/errors.py", line 164, in __call__
    await self.app(scope, receive, _send)
  File "/venv/lib/python3.11/site-packages/mlflow/pyfunc/__init__.py", line 744, in _validate_prediction_input
    raise MlflowException.invalid_parameter_value(
mlflow.exceptions.MlflowException: Failed to enforce schema of data '   sepal_length  sepal_width  petal_length
0           5.1          3.5           1.4' with schema '['sepal_length': double (required), 'petal_width': double (required)]'. Error: Model is missing inputs ['petal_width'].
`;

describe('pythonException', () => {
  it("gives the last exception's class and innermost message", () => {
    expect(pythonException(traceback)).toBe("MlflowException: Model is missing inputs ['petal_width'].");
    expect(errorText(traceback)).toBe("MlflowException: Model is missing inputs ['petal_width'].");
    expect(errorText(JSON.stringify({ error: traceback }))).toBe(
      "MlflowException: Model is missing inputs ['petal_width'].",
    );
  });

  it('leaves text without a traceback alone', () => {
    expect(pythonException('Internal Server Error')).toBeUndefined();
    expect(errorText('{"error":"Model iris not found"}')).toBe('Model iris not found');
  });
});

describe('htmlPage', () => {
  it('tells an HTML page from JSON, with its title', () => {
    expect(
      htmlPage({
        status: 200,
        headers: { 'content-type': 'text/html' },
        body: '<html><title>Kubeflow Central Dashboard</title>',
      }),
    ).toEqual({ title: 'Kubeflow Central Dashboard' });
    expect(
      htmlPage({ status: 404, headers: { 'content-type': 'application/json' }, body: '{"detail":"Not Found"}' }),
    ).toBeUndefined();
  });
});
