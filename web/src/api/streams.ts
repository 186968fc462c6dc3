// Live streams: run events over SSE and step logs over the WebSocket.
//
// EventSource cannot send an Authorization header, so events are read with fetch and a
// small SSE parser; on a dropped connection it resumes after the last seq it saw.
import type { RunEvent } from "./client";
import { authHeaders } from "./client";
import { freshToken, getSession } from "./session";

export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/** Splits an SSE byte stream's text into messages; keeps the unfinished tail. */
export class SseParser {
  private buffer = "";

  push(chunk: string): SseMessage[] {
    this.buffer += chunk.replace(/\r\n?/g, "\n");
    const messages: SseMessage[] = [];
    let end = this.buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const message: SseMessage = { data: "" };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(value);
        else if (field === "id") message.id = value;
        else if (field === "event") message.event = value;
      }
      if (data.length) {
        message.data = data.join("\n");
        messages.push(message);
      }
      end = this.buffer.indexOf("\n\n");
    }
    return messages;
  }
}

export interface EventStreamHandlers {
  onEvents: (events: RunEvent[]) => void;
  onEnd: () => void;
  onError: (error: unknown) => void;
}

/** Follows a run's events after `afterSeq` until its final event; returns a stop function. */
export function followRunEvents(
  runId: string,
  afterSeq: number,
  handlers: EventStreamHandlers,
): () => void {
  const controller = new AbortController();
  let last = afterSeq;
  let failures = 0;

  const connect = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      try {
        await freshToken();
        const response = await fetch(
          `/runs/${encodeURIComponent(runId)}/events/stream?afterSeq=${last}`,
          { headers: { ...authHeaders(), Accept: "text/event-stream" }, signal: controller.signal },
        );
        if (!response.ok || !response.body) throw new Error(`event stream answered ${response.status}`);
        failures = 0;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const events = parser
            .push(value)
            .map((m) => JSON.parse(m.data) as RunEvent)
            .filter((e) => e.seq > last);
          if (events.length) {
            last = events[events.length - 1]!.seq;
            handlers.onEvents(events);
          }
        }
        handlers.onEnd(); // the server ends the stream after the run's final event
        return;
      } catch (error) {
        if (controller.signal.aborted) return;
        failures += 1;
        if (failures > 5) {
          handlers.onError(error);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 500 * failures));
      }
    }
  };
  void connect();
  return () => controller.abort();
}

export interface LogLine {
  type: "log";
  id: number;
  ts: string;
  nodeId: string;
  attempt: number;
  level: string;
  message: string;
}

/** Step log lines over the WebSocket (browsers cannot set headers there: `?token=`). */
export function followRunLogs(
  runId: string,
  onLines: (lines: LogLine[]) => void,
  onEnd: (error?: string) => void,
): () => void {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const token = getSession()?.token ?? "";
  const url = `${scheme}://${location.host}/runs/${encodeURIComponent(runId)}/logs?follow=true` +
    (token ? `&token=${encodeURIComponent(token)}` : "");
  const socket = new WebSocket(url);
  let ended = false;
  socket.onmessage = (message) => {
    const data = JSON.parse(String(message.data)) as
      | LogLine
      | { type: "end" }
      | { type: "error"; error: { message: string } };
    if (data.type === "log") onLines([data]);
    else if (data.type === "end") {
      ended = true;
      onEnd();
    } else if (data.type === "error") {
      ended = true;
      onEnd(data.error.message);
    }
  };
  socket.onerror = () => {
    if (!ended) onEnd("the log stream closed unexpectedly");
    ended = true;
  };
  return () => {
    ended = true;
    socket.close();
  };
}
