import { describe, expect, it } from 'vitest';
import { optionsJsonSchema } from './json-schema.js';

describe('optionsJsonSchema', () => {
  it('describes the options from the same schema as the validation', () => {
    const schema = optionsJsonSchema() as {
      type: string;
      additionalProperties: boolean;
      properties: Record<string, { items?: { required?: string[] } }>;
    };
    expect(schema.type).toBe('object');
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['backends', 'retry', 'timeouts', 'trustProxy']),
    );
    expect(schema.properties.backends?.items?.required).toEqual(['url']);
  });
});
