/**
 * docs/api.md, rendered from the OpenAPI document the routes generate (scripts/api-doc.mjs writes
 * it; a unit test fails when it is out of step). One section per tag, one entry per operation.
 */

interface Schema {
  type?: string | string[];
  anyOf?: Schema[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  description?: string;
  nullable?: boolean;
  additionalProperties?: boolean | Schema;
  patternProperties?: Record<string, Schema>;
}
interface Operation {
  summary?: string;
  description?: string;
  deprecated?: boolean;
  tags?: string[];
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: Schema; description?: string }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}
interface OpenApi {
  info: { title: string; version: string; description?: string };
  tags?: Array<{ name: string; description?: string }>;
  paths: Record<string, Record<string, Operation>>;
}

/** A schema as a short type: `string`, `integer | null`, `array of object`, `"tcp" | "udp"`. */
function typeOf(s: Schema | undefined): string {
  if (!s) return 'any';
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  const base = Array.isArray(s.type) ? s.type.join(' \\| ') : s.type === 'array' ? `array of ${s.items?.anyOf ? `(${typeOf(s.items)})` : typeOf(s.items)}` : s.type ?? (s.properties ? 'object' : 'any');
  return s.nullable ? `${base} \\| null` : base;
}

const cell = (text: string | undefined): string => (text ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');

function fields(s: Schema | undefined): string[] {
  const target = s?.anyOf?.find((a) => a.properties) ?? (s?.type === 'array' ? s.items : s);
  if (!target?.properties || !Object.keys(target.properties).length) return [];
  const required = new Set(target.required ?? []);
  return [
    '| field | type | required | meaning |', '|---|---|---|---|',
    ...Object.entries(target.properties).map(([name, f]) => `| \`${name}\` | ${typeOf(f)} | ${required.has(name) ? 'yes' : ''} | ${cell(f.description)} |`),
  ];
}

export function apiReference(doc: OpenApi): string {
  /** Answers described once: later operations answering the same point to the first. */
  const described = new Map<string, string>();
  const out = [
    `# ${doc.info.title} ${doc.info.version}`, '',
    '<!-- Generated from the routes by `node scripts/api-doc.mjs` (after `npm run build`); do not edit by hand. -->', '',
    doc.info.description ?? '', '',
    'The daemon serves this document as OpenAPI 3 at `GET /v1/openapi.json`. Over its unix socket:',
    '`curl --unix-socket /run/strata/strata.sock http://strata/v1/openapi.json`. The typed client is',
    '`src/api/client.ts`; request and answer schemas are `src/api/types.ts`. Every operation may answer',
    'an error `{code, message}` with the status of [errors.md](errors.md). Answers may carry fields',
    'beyond those listed here (new ones are added, none removed).', '',
  ];
  for (const tag of doc.tags ?? []) {
    out.push(`## ${tag.name[0].toUpperCase()}${tag.name.slice(1)}`, '', tag.description ? `${tag.description[0].toUpperCase()}${tag.description.slice(1)}.` : '', '');
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        if (!op.tags?.includes(tag.name)) continue;
        out.push(`### \`${method.toUpperCase()} ${path}\`${op.deprecated ? ' (deprecated)' : ''}`, '');
        const text = [op.summary, op.description].filter(Boolean).join('. ');
        if (text) out.push(`${text}${/[.:]$/.test(text) ? '' : '.'}`, '');
        const heading = `${method.toUpperCase()} ${path}`;
        const params = op.parameters ?? [];
        if (params.length) {
          out.push('| parameter | in | type | required | meaning |', '|---|---|---|---|---|');
          for (const p of params) out.push(`| \`${p.name}\` | ${p.in} | ${typeOf(p.schema)} | ${p.required ? 'yes' : ''} | ${cell(p.description ?? p.schema?.description)} |`);
          out.push('');
        }
        const body = op.requestBody?.content?.['application/json']?.schema;
        if (body) out.push('Request body:', '', ...fields(body), '');
        for (const [status, answer] of Object.entries(op.responses ?? {})) {
          if (!/^2/.test(status)) continue;
          const [type, media] = Object.entries(answer.content ?? {})[0] ?? [];
          const schema = media?.schema;
          const what = type === 'application/json' ? `${typeOf(schema)}${schema?.description ? `: ${schema.description}` : (schema?.items?.description ? ` (${schema.items.description})` : '')}` : `${type ?? 'empty'}${answer.description && answer.description !== 'Default Response' ? `: ${answer.description}` : ''}`;
          out.push(`Answer ${status}: ${what}.`, '');
          const rows = type === 'application/json' ? fields(schema) : [];
          const key = JSON.stringify(schema?.type === 'array' ? schema.items : schema);
          const first = described.get(key);
          if (rows.length && first) out.push(`Its fields are those of the answer of \`${first}\`.`, '');
          else if (rows.length) { out.push(...rows, ''); described.set(key, heading); }
        }
      }
    }
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}
