import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render } from "@testing-library/react";
import { GanttChart } from "./GanttChart";

afterEach(cleanup);

describe("GanttChart", () => {
  it("draws a row per step and a bar per phase, and selects a step on click", () => {
    const onSelect = vi.fn();
    const { container } = render(
      <GanttChart
        gantt={{
          rows: ["a", "b"],
          start: 0,
          end: 10_000,
          bars: [
            { step: "a", attempt: 1, kind: "running", start: 0, end: 2000, outcome: "failed" },
            { step: "a", attempt: 1, kind: "backoff", start: 2000, end: 4000 },
            { step: "a", attempt: 2, kind: "running", start: 4000, end: 5000, outcome: "succeeded" },
            { step: "b", attempt: 1, kind: "waiting", start: 5000, end: null },
          ],
        }}
        selected={null}
        onSelect={onSelect}
      />,
    );
    const rowA = container.querySelector("[data-gantt-row=a]")!;
    expect(rowA.querySelectorAll("[data-bar-kind]")).toHaveLength(3);
    expect(rowA.querySelector("[data-bar-kind=backoff]")!.getAttribute("style")).toContain("left: 20%");
    const waiting = container.querySelector("[data-gantt-row=b] [data-bar-kind=waiting]")!;
    expect(waiting.getAttribute("title")).toContain("waiting");
    fireEvent.click(container.querySelector("[data-gantt-row=b]")!);
    expect(onSelect).toHaveBeenCalledWith("b");
  });

  it("says when nothing has been scheduled yet", () => {
    const { container } = render(<GanttChart gantt={{ rows: [], bars: [], start: 0, end: 0 }} selected={null} onSelect={() => {}} />);
    expect(container.textContent).toContain("No step has been scheduled");
  });
});
