// HTML rendering of scenarios and open questions for notebooks and reports (self-contained, escaped, inline styles).
// The structured form is shown as a table of options with both personas' private utilities.
import type { OpenQuestion, Persona, Scenario } from "./schema";

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function personaHtml(p: Persona, side: string): string {
  const li = (xs: string[]): string => xs.map((x) => escapeHtml(x)).join("; ");
  return `<div style="flex:1;border:1px solid #ddd;border-radius:6px;padding:6px 10px">` +
    `<b>${side}: ${escapeHtml(p.name)}</b> <i>(${escapeHtml(p.role)})</i><br>` +
    `<small><b>values</b> ${li(p.coreValues)}<br><b>goals</b> ${li(p.goals)}<br><b>red lines</b> ${li(p.redLines)}</small></div>`;
}

/** A card: id, category, tension, dilemma, both personas and (if present) the issues with utilities. */
export function scenarioHtml(s: Scenario): string {
  const head = `<div style="font-family:sans-serif;max-width:820px;border:1px solid #bbb;border-radius:8px;padding:10px;margin:8px 0">` +
    `<div style="color:#555"><b>${escapeHtml(s.id)}</b> · ${escapeHtml(s.category)} · ${escapeHtml(s.split)} · ` +
    `<span style="color:#a33">${escapeHtml(s.pair.tension)}</span></div>` +
    `<p style="margin:6px 0">${escapeHtml(s.dilemma)}</p>` +
    `<div style="display:flex;gap:8px">${personaHtml(s.pair.a, "A")}${personaHtml(s.pair.b, "B")}</div>`;
  if (!s.structured) return head + "</div>";
  const rows = s.structured.issues.flatMap((issue) =>
    issue.options.map((o, j) =>
      `<tr>${j === 0 ? `<td rowspan="${issue.options.length}"><b>${escapeHtml(issue.label)}</b><br><small>${issue.kind}</small></td>` : ""}` +
      `<td>${escapeHtml(o.label)}${o.creative ? " <b style=\"color:#2a7\">✦ creative</b>" : ""}</td>` +
      `<td style="text-align:right">${o.utility.a}</td><td style="text-align:right">${o.utility.b}</td></tr>`,
    ),
  );
  return head +
    `<table style="border-collapse:collapse;margin-top:8px;font-size:90%" border="1" cellpadding="3">` +
    `<tr><th>issue</th><th>option</th><th>utility A</th><th>utility B</th></tr>${rows.join("")}</table></div>`;
}

export function openQuestionHtml(q: OpenQuestion): string {
  return `<div style="font-family:sans-serif;max-width:820px;border:1px solid #bbb;border-radius:8px;padding:10px;margin:8px 0">` +
    `<div style="color:#555"><b>${escapeHtml(q.id)}</b> · ${escapeHtml(q.category)} · open-ended CA question</div>` +
    `<p style="margin:6px 0">${escapeHtml(q.question)}</p></div>`;
}
