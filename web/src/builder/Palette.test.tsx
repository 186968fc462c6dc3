import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { NodeTypeInfo } from "../api/client";
import { Palette, groupByCategory } from "./Palette";

function info(type: string, category: string, icon: string | null = null): NodeTypeInfo {
  return {
    type, category, icon, description: `${type} node`, execution: "dispatch", runs: "worker",
    branches: false, whenValues: null, configSchema: {}, outputSchema: null, title: type,
    source: category === "core" ? "builtin" : "plugin",
  };
}

describe("Palette", () => {
  it("puts the core types first and groups plugin types by category", () => {
    const groups = groupByCategory([info("x.a", "xs"), info("http", "core"), info("a.b", "as")]);
    expect(groups.map(([c]) => c)).toEqual(["core", "as", "xs"]);
  });

  it("shows plugin types with their icon and names failed plugins", () => {
    render(
      <Palette
        types={[info("http", "core"), info("example.slugify", "examples", "🔗")]}
        failures={[{ entryPoint: "broken = x:Y", source: "broken-pkg", error: "ImportError", nodeType: null }]}
        onAdd={() => {}}
      />,
    );
    const slug = document.querySelector('[data-palette-type="example.slugify"]');
    expect(slug?.textContent).toContain("🔗");
    expect(document.querySelector('[data-palette-category="examples"]')).not.toBeNull();
    expect(screen.getByRole("status").textContent).toBe("1 plugin failed to load");
  });
});
