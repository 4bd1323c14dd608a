/**
 * `foldsweep schema sweep|schedule` and `foldsweep advise --json`: the real bin/foldsweep.mjs in a
 * child process, stdout parsed as JSON.
 */
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SweepSpecSchema } from '../../shared/schemas/sweep-spec.js';
import { foldsweep } from '../helpers/cli.js';
import { makeWorkspace } from '../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
beforeAll(async () => {
  ws = await makeWorkspace({ samples: 45 });
});
afterAll(() => ws.cleanup());

describe('foldsweep schema', () => {
  it.each(['sweep', 'schedule'])('schema %s prints a JSON Schema ajv compiles', async (kind) => {
    const result = await foldsweep(['schema', kind], ws.dir);
    expect(result.code, result.stderr).toBe(0);
    const schema = JSON.parse(result.stdout);
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.properties.$schema).toEqual({ type: 'string' });
    const validate = new Ajv2020({ strict: false }).compile(schema);
    if (kind === 'sweep') expect(validate(ws.spec())).toBe(true);
  });

  it('names the kinds when the kind is wrong', async () => {
    const result = await foldsweep(['schema', 'swep'], ws.dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/did you mean 'sweep'/);
  });
});

describe('foldsweep advise --json', () => {
  it('prints one JSON document: the spec, the probes and the reasons', async () => {
    const spec = ws.spec();
    const result = await foldsweep(
      ['advise', spec.dataset.uri, spec.baseModel, '--home', join(ws.dir, 'advise-home'), '--json'],
      ws.dir,
    );
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout);
    expect(SweepSpecSchema.parse(doc.spec).dataset.uri).toBe(spec.dataset.uri);
    expect(doc.probes.length).toBeGreaterThan(0);
    expect(doc.reasons.length).toBeGreaterThan(0);
    expect(Array.isArray(doc.warnings)).toBe(true);
    expect(doc.trials).toBe(doc.variants * doc.spec.folds);
    expect(doc.out).toBeNull();
    expect(result.stderr).toContain('Recommendation:');
  });
});
