// HTML views of self-play for notebooks and reports: a dialogue as a chat, and the tokens a training sample's loss
// mask covers. Pure string builders (the notebook displays them); all text is HTML-escaped.
import type { Scenario } from "../data/schema";
import type { Episode, TrainingSample } from "./episode";

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** One episode as a two-column chat: Agent 1 left (blue), Agent 2 right (green), invalid turns flagged, then the summary. */
export function renderEpisodeHtml(episode: Episode, scenario?: Scenario, options: { score?: number } = {}): string {
  const name = (side: "a" | "b") => (scenario ? scenario.pair[side].name : side);
  const head = [
    `<b>${esc(episode.id)}</b>`,
    `opener: Agent ${episode.opener}`,
    `Agent 1 = ${esc(name(episode.agent1Side))}`,
    episode.agreed ? `<span style="color:#1a7f37">agreed in ${episode.roundsToAgreement} turns</span>` : `<span style="color:#b42318">no agreement</span>`,
    ...(options.score !== undefined ? [`oracle CA ${options.score}`] : []),
  ].join(" · ");
  const rows = episode.turns.map((t) => {
    const left = t.speaker === 1;
    const bad = t.move?.kind === "invalid" ? ` <span style="color:#b42318" title="${esc(t.move.reason)}">✗ ${esc(t.move.reason)}</span>` : "";
    const bubble =
      `<div style="display:inline-block;max-width:75%;padding:6px 10px;border-radius:10px;margin:3px 0;` +
      `background:${left ? "#e8f0fe" : "#e6f4ea"};font-family:monospace;font-size:12px;white-space:pre-wrap">` +
      `<b>${t.index + 1}. Agent ${t.speaker} (${esc(name(t.side))})</b><br>${esc(t.text)}${bad}</div>`;
    return `<div style="text-align:${left ? "left" : "right"}">${bubble}</div>`;
  });
  const summary = episode.summary
    ? `<div style="margin-top:6px;padding:6px 10px;border:1px dashed #888;font-family:monospace;font-size:12px;white-space:pre-wrap"><b>Joint solution (Agent 1)</b><br>${esc(episode.summary.text)}</div>`
    : `<div style="margin-top:6px;color:#666;font-size:12px">no summary (train mode without agreement)</div>`;
  return `<div style="border:1px solid #ddd;border-radius:8px;padding:8px;margin:6px 0"><div style="font-size:12px;margin-bottom:4px">${head}</div>${rows.join("")}${summary}</div>`;
}

/**
 * The tokens of a training sample with the loss mask shown: masked-in tokens (trained) highlighted, prompt tokens
 * grey. `decode` turns one id into its text (e.g. id => tok.decode([id])). Long prompts are elided in the middle.
 */
export function renderMaskHtml(sample: TrainingSample, decode: (id: number) => string, options: { keepPrompt?: number } = {}): string {
  const keep = options.keepPrompt ?? 40;
  const parts: string[] = [];
  const n = sample.inputIds.length;
  for (let i = 0; i < n; i++) {
    if (sample.lossMask[i] === 0 && i >= keep && i < sample.promptLength - keep) {
      if (i === keep) parts.push(`<span style="color:#999"> … ${sample.promptLength - 2 * keep} prompt tokens … </span>`);
      continue;
    }
    const text = esc(decode(sample.inputIds[i]!)).replace(/\n/g, "↵<br>");
    parts.push(
      sample.lossMask[i] === 1
        ? `<span style="background:#ffd966;border-bottom:2px solid #bf9000" title="id ${sample.inputIds[i]} · old logp ${sample.oldLogprobs[i]!.toFixed(2)}">${text}</span>`
        : `<span style="color:#888" title="id ${sample.inputIds[i]}">${text}</span>`,
    );
  }
  const trained = sample.lossMask.reduce((a, b) => a + b, 0);
  return (
    `<div style="font-family:monospace;font-size:12px;line-height:1.6;border:1px solid #ddd;padding:6px;margin:4px 0">` +
    `<div><b>${esc(sample.episodeId)} turn ${sample.turnIndex} (Agent ${sample.speaker}, ${sample.kind})</b>: ${n} tokens, ${trained} in the loss (highlighted)</div>${parts.join("")}</div>`
  );
}
