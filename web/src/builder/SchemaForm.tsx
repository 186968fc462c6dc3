// A form rendered from a JSON Schema (as pydantic writes them: `$ref` into `$defs`,
// nullable fields as `anyOf [T, null]`). Scalars get inputs, enums a select, objects with
// properties a fieldset; anything else (free-form objects, arrays, any) is edited as JSON.
import { useEffect, useState } from "react";

type Schema = Record<string, unknown>;

export function resolve(schema: Schema, root: Schema): Schema {
  let s = schema;
  for (let i = 0; i < 8; i++) {
    const ref = s["$ref"];
    if (typeof ref === "string" && ref.startsWith("#/$defs/")) {
      const defs = (root["$defs"] ?? {}) as Record<string, Schema>;
      s = { ...defs[ref.slice(8)], ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== "$ref")) };
      continue;
    }
    const anyOf = s["anyOf"];
    if (Array.isArray(anyOf)) {
      const options = (anyOf as Schema[]).filter((o) => o["type"] !== "null");
      if (options.length === 1) {
        const { anyOf: _a, ...rest } = s;
        s = { ...rest, ...options[0] };
        continue;
      }
    }
    break;
  }
  return s;
}

export function humanize(key: string): string {
  return key.replace(/([a-z])([A-Z])/g, "$1 $2").replace(/^./, (c) => c.toUpperCase());
}

const LONG_TEXT = new Set(["expr", "prompt", "statement", "message", "value", "body", "items"]);
const input = "w-full rounded border border-slate-300 px-2 py-1 text-sm focus:border-cyan-600 focus:outline-none";

interface FieldProps {
  name: string;
  label: string;
  schema: Schema;
  root: Schema;
  value: unknown;
  required: boolean;
  onChange: (value: unknown) => void;
}

function JsonField({ name, value, onChange }: { name: string; value: unknown; onChange: (v: unknown) => void }) {
  const shown = value === undefined ? "" : JSON.stringify(value, null, 2);
  const [text, setText] = useState(shown);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setText(shown), [shown]);
  return (
    <>
      <textarea
        name={name}
        rows={Math.min(8, Math.max(2, text.split("\n").length))}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => {
          if (!text.trim()) {
            setError(null);
            onChange(undefined);
            return;
          }
          try {
            onChange(JSON.parse(text));
            setError(null);
          } catch {
            setError("not valid JSON");
          }
        }}
        className={`${input} font-mono text-xs`}
      />
      {error && <span className="text-xs text-red-700">{error}</span>}
    </>
  );
}

export function Field({ name, label, schema: raw, root, value, required, onChange }: FieldProps) {
  const schema = resolve(raw, root);
  const type = schema["type"];
  const description = (raw["description"] ?? schema["description"]) as string | undefined;
  const fallback = schema["default"];
  let control: React.ReactNode;
  if (Array.isArray(schema["enum"])) {
    control = (
      <select name={name} value={value === undefined ? "" : String(value)} onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)} className={input}>
        {!required && <option value="">{fallback !== undefined ? `default (${String(fallback)})` : "—"}</option>}
        {(schema["enum"] as unknown[]).map((v) => <option key={String(v)} value={String(v)}>{String(v)}</option>)}
      </select>
    );
  } else if (type === "boolean") {
    control = <input type="checkbox" name={name} checked={value === undefined ? Boolean(fallback) : Boolean(value)} onChange={(e) => onChange(e.target.checked)} />;
  } else if (type === "integer" || type === "number") {
    control = (
      <input type="number" name={name} step={type === "integer" ? 1 : "any"} value={value === undefined ? "" : String(value)} placeholder={fallback !== undefined ? String(fallback) : undefined}
        onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))} className={input} />
    );
  } else if (type === "string") {
    const placeholder = schema["format"] === "duration" ? "e.g. 30s, 5m, 1h" : fallback !== undefined && fallback !== null ? String(fallback) : undefined;
    const long = LONG_TEXT.has(name.split(".").pop() ?? "");
    control = long ? (
      <textarea name={name} rows={2} value={value === undefined ? "" : String(value)} placeholder={placeholder} onChange={(e) => onChange(e.target.value === "" && !required ? undefined : e.target.value)} className={`${input} font-mono text-xs`} />
    ) : (
      <input name={name} value={value === undefined ? "" : String(value)} placeholder={placeholder} onChange={(e) => onChange(e.target.value === "" && !required ? undefined : e.target.value)} className={input} />
    );
  } else if (type === "object" && schema["properties"]) {
    return (
      <fieldset className="rounded border border-slate-200 p-2">
        <legend className="px-1 text-xs font-semibold text-slate-600">{label}</legend>
        <ObjectFields prefix={name} schema={schema} root={root} value={(value ?? {}) as Record<string, unknown>}
          onChange={(next) => onChange(Object.keys(next).length ? next : undefined)} />
      </fieldset>
    );
  } else {
    control = <JsonField name={name} value={value} onChange={onChange} />;
  }
  return (
    <label className="block text-xs font-medium text-slate-600" title={description}>
      <span>{label}{required && <span className="text-red-600"> *</span>}</span>
      <div className="mt-0.5">{control}</div>
    </label>
  );
}

export function ObjectFields({ prefix, schema, root, value, onChange, skip = [] }: {
  prefix: string;
  schema: Schema;
  root: Schema;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  skip?: string[];
}) {
  const properties = (schema["properties"] ?? {}) as Record<string, Schema>;
  const required = new Set((schema["required"] ?? []) as string[]);
  return (
    <div className="space-y-2">
      {Object.entries(properties)
        .filter(([key]) => !skip.includes(key))
        .map(([key, prop]) => (
          <Field key={key} name={`${prefix}.${key}`} label={humanize(key)} schema={prop} root={root}
            value={value[key]} required={required.has(key)}
            onChange={(v) => {
              const next = { ...value };
              if (v === undefined) delete next[key];
              else next[key] = v;
              onChange(next);
            }} />
        ))}
    </div>
  );
}
