// The definition as YAML, editable beside the canvas: canvas edits rewrite the text (unless
// you are typing in it), and text that parses into a definition replaces the canvas.
import { useEffect, useRef, useState } from "react";
import YAML from "yaml";
import { asDefinition, type Definition } from "../lib/definition";

export function toYaml(d: Definition): string {
  return YAML.stringify(d, { lineWidth: 0 });
}

export function YamlPanel({ definition, onChange }: { definition: Definition; onChange: (d: Definition) => void }) {
  const [text, setText] = useState(() => toYaml(definition));
  const [error, setError] = useState<string | null>(null);
  const focused = useRef(false);
  const timer = useRef<number | undefined>(undefined);

  useEffect(() => {
    if (!focused.current) setText(toYaml(definition));
  }, [definition]);

  const edit = (value: string) => {
    setText(value);
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      try {
        const parsed = asDefinition(YAML.parse(value));
        if (!parsed) {
          setError("a workflow needs spec.nodes (a list)");
          return;
        }
        setError(null);
        onChange(parsed);
      } catch (e) {
        setError(e instanceof Error ? e.message.split("\n")[0]! : String(e));
      }
    }, 400);
  };

  return (
    <div className="flex h-full flex-col" data-testid="yaml-panel">
      <textarea
        name="yaml"
        spellCheck={false}
        value={text}
        onChange={(e) => edit(e.target.value)}
        onFocus={() => { focused.current = true; }}
        onBlur={() => { focused.current = false; }}
        className="min-h-0 flex-1 resize-none bg-slate-900 p-2 font-mono text-xs leading-5 text-slate-100 focus:outline-none"
      />
      {error && <p role="alert" className="bg-red-50 px-2 py-1 text-xs text-red-800">YAML: {error}</p>}
    </div>
  );
}
