// The operator page: pick a camera, see what its archive holds, preview a
// range, export it with overlays, masks and crop, follow and download sessions.
// Plain ES modules; every request goes through api.js (a 401 opens login.js's form).

import { api, blobUrl, events, json } from "./api.js";
import { installLogin } from "./login.js";
import { MaskEditor } from "./mask.js";

const $ = (id) => document.getElementById(id);
const THUMBNAILS = 8;
const PREVIEW_SECONDS = 60;
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

const state = {
  origins: [],
  origin: null,  // { origin, label, live, archives }
  intervals: [],  // [{ begin: Date, end: Date }]
  view: null,  // { begin: Date, end: Date }
  sessions: new Map(),  // id -> SessionInfo
};

const mask = new MaskEditor($("mask-canvas"), $("mask-text"));

// -- small helpers ----------------------------------------------------------------------

function say(text, element = $("status"), failed = false) {
  element.textContent = text;
  element.classList.toggle("error", failed);
}

function fail(error, element = $("status")) {
  say(error.field ? `${error.message}` : String(error.message || error), element, true);
}

const iso = (date) => date.toISOString();
const clock = (date) => date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

function originPath(suffix, params = {}) {
  const query = new URLSearchParams({ storage: state.origin.archives[0].storage, ...params });
  return `/api/v1/origins/${encodeURI(state.origin.origin)}/${suffix}?${query}`;
}

function range() {
  const start = new Date($("start").value.trim());
  const end = new Date($("end").value.trim());
  if (Number.isNaN(start.getTime())) throw new Error("From is not a time (use 2026-01-01T12:00:00Z)");
  if (Number.isNaN(end.getTime())) throw new Error("To is not a time (use 2026-01-01T12:00:10Z)");
  if (end <= start) throw new Error("To must be after From");
  return { start, end };
}

function setRange(start, end) {
  if (start) $("start").value = iso(start);
  if (end) $("end").value = iso(end);
  drawTimeline();
  loadMaskFrame();
}

// -- camera, day, timeline ----------------------------------------------------------------

async function loadOrigins() {
  const { origins } = await json("/api/v1/origins");
  state.origins = origins;
  const select = $("origin");
  select.replaceChildren(...origins.map((o) => {
    const option = new Option(o.archives.length ? o.label : `${o.label} (live only)`, o.origin);
    option.disabled = !o.archives.length;
    return option;
  }));
  const first = origins.find((o) => o.archives.length);
  if (first) {
    select.value = first.origin;
    await pickOrigin();
  } else {
    say("No camera with an archive is configured.");
  }
}

async function pickOrigin() {
  state.origin = state.origins.find((o) => o.origin === $("origin").value);
  const { days } = await json(originPath("calendar", { tz: zone }));
  const select = $("day");
  select.replaceChildren(...days.map((day) => new Option(day, day)));
  if (!days.length) {
    say("This archive holds no recordings.");
    return;
  }
  select.value = days[days.length - 1];
  await pickDay();
}

async function pickDay() {
  const day = $("day").value;
  const begin = new Date(`${day}T00:00:00`);
  const end = new Date(begin.getTime() + 86400e3);
  const answer = await json(originPath("intervals", { begin: iso(begin), end: iso(end) }));
  state.intervals = answer.intervals.map((i) => ({ begin: new Date(i.begin), end: new Date(i.end) }));
  if (!state.intervals.length) {
    say("No recordings on this day.");
    return;
  }
  state.view = { begin: state.intervals[0].begin, end: state.intervals[state.intervals.length - 1].end };
  const total = state.intervals.reduce((sum, i) => sum + (i.end - i.begin), 0) / 1000;
  $("archive-info").textContent = `${state.intervals.length} recorded range(s), ${total.toFixed(0)} s, ` +
    `${clock(state.view.begin)} to ${clock(state.view.end)} (${zone}); ` +
    `${state.intervals.length - 1} gap(s) between them.`;
  const span = state.view.end - state.view.begin;
  const start = new Date(state.view.begin.getTime() + span * 0.25);
  const stop = new Date(Math.min(start.getTime() + 10e3, state.view.end.getTime()));
  setRange(start, stop);
  say(`${state.origin.label}: ${day}`);
  await loadThumbnails();
}

function position(date) {
  const { begin, end } = state.view;
  return Math.min(100, Math.max(0, (100 * (date - begin)) / (end - begin)));
}

function drawTimeline() {
  const timeline = $("timeline");
  if (!state.view) return;
  const bars = state.intervals.map((i) => {
    const bar = document.createElement("span");
    bar.className = "recorded";
    bar.style.left = `${position(i.begin)}%`;
    bar.style.width = `${Math.max(0.3, position(i.end) - position(i.begin))}%`;
    bar.title = `${clock(i.begin)} - ${clock(i.end)}`;
    return bar;
  });
  try {
    const { start, end } = range();
    const chosen = document.createElement("span");
    chosen.className = "chosen";
    chosen.style.left = `${position(start)}%`;
    chosen.style.width = `${Math.max(0.3, position(end) - position(start))}%`;
    bars.push(chosen);
    $("range-info").textContent = `${((end - start) / 1000).toFixed(1)} s, ${clock(start)} to ${clock(end)}`;
  } catch (error) {
    $("range-info").textContent = error.message;
  }
  timeline.replaceChildren(...bars);
  $("axis-begin").textContent = clock(state.view.begin);
  $("axis-end").textContent = clock(state.view.end);
}

function pickTime(date) {
  if (document.querySelector("input[name=pick]:checked").value === "start") setRange(date, null);
  else setRange(null, date);
}

$("timeline").addEventListener("click", (event) => {
  if (!state.view) return;
  const box = $("timeline").getBoundingClientRect();
  const share = (event.clientX - box.left) / box.width;
  pickTime(new Date(state.view.begin.getTime() + share * (state.view.end - state.view.begin)));
});

async function loadThumbnails() {
  const { begin, end } = state.view;
  const step = (end - begin) / THUMBNAILS;
  const times = Array.from({ length: THUMBNAILS }, (_, k) => new Date(begin.getTime() + (k + 0.5) * step));
  const list = $("thumbnails");
  list.setAttribute("aria-busy", "true");
  const { images } = await json(originPath("thumbnails", { times: times.map(iso).join(","), width: 160 }));
  list.replaceChildren(...images.map((image) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    const moment = new Date(image.time);
    if (image.data) {
      const picture = new Image();
      picture.src = `data:${image.mime_type};base64,${image.data}`;
      picture.alt = `frame at ${clock(new Date(image.frame_time))}`;
      picture.width = image.width;
      picture.height = image.height;
      button.append(picture);
    } else {
      const none = document.createElement("span");
      none.className = "no-video";
      none.textContent = "no video";
      button.append(none);
    }
    const label = document.createElement("span");
    label.textContent = clock(moment);
    button.append(label);
    button.addEventListener("click", () => pickTime(moment));
    item.append(button);
    return item;
  }));
  list.removeAttribute("aria-busy");
}

let maskTimer = 0;
function loadMaskFrame() {
  clearTimeout(maskTimer);
  maskTimer = setTimeout(async () => {
    try {
      const { start } = range();
      const url = await blobUrl(originPath("thumbnail", { time: iso(start), width: 480, exact: "true" }));
      const image = new Image();
      image.onload = () => mask.setImage(image);
      image.src = url;
    } catch {
      mask.setImage(null);  // no picture there: the polygons can still be drawn
    }
  }, 250);
}

// -- exports ------------------------------------------------------------------------------

function source(extra = []) {
  return { origin: state.origin.origin, storages: [state.origin.archives[0].storage], settings: extra };
}

function optionsBody() {
  const { start, end } = range();
  const sourceSettings = [];
  const common = [{ timezone: -new Date().getTimezoneOffset() }];
  const polygons = mask.spaces();
  if (polygons.length) {
    sourceSettings.push({ mask_space: { space: polygons } });
    common.push({ apply_mask: true });
    if ($("mask-invert").checked) common.push({ invert_mask: true });
  }
  const crop = ["left", "top", "right", "bottom"].map((side) => $(`crop-${side}`).value.trim());
  if (crop.some(Boolean)) {
    const [left, top, right, bottom] = crop.map((v, i) => (v === "" ? (i < 2 ? 0 : 1) : Number(v)));
    sourceSettings.push({ crop_area: { left, top, right, bottom } });
  }
  if ($("timestamp").checked) common.push({ timestamp_format: $("timestamp-format").value });
  if ($("comment").value.trim()) common.push({ comment: $("comment").value.trim() });
  const stream = [];
  if ($("codec").value !== "VC_DEFAULT") stream.push({ video_codec: $("codec").value });
  if ($("quality").value !== "C_NORMAL") stream.push({ video_quality: $("quality").value });
  const body = {
    archive: { sources: [source(sourceSettings)], start_timestamp: iso(start), end_timestamp: iso(end) },
    stream: { format: $("format").value, settings: stream },
    settings: common,
  };
  const megabytes = Number($("split").value);
  if (megabytes > 0) body.max_file_size = String(Math.round(megabytes * 1024 * 1024));
  return body;
}

async function startExport() {
  try {
    const { session_id: id } = await json("/api/v1/sessions", { method: "POST", body: optionsBody() });
    say(`Export started: session ${id.slice(0, 8)}.`, $("export-status"));
  } catch (error) {
    fail(error, $("export-status"));
  }
}

async function preview() {
  const status = $("preview-status");
  let watch = null;
  try {
    const { start, end } = range();
    const stop = new Date(Math.min(end.getTime(), start.getTime() + PREVIEW_SECONDS * 1000));
    const body = {
      archive: { sources: [source()], start_timestamp: iso(start), end_timestamp: iso(stop) },
      stream: { format: "MP4" },
      settings: [{ file_name: "preview" }],
    };
    const { session_id: id } = await json("/api/v1/sessions", { method: "POST", body });
    say(end > stop ? `Preparing the first ${PREVIEW_SECONDS} s...` : "Preparing the preview...", status);
    watch = events(`/api/v1/sessions/${id}/events`, {
      state: async ({ state: s }) => {
        if (s.state !== "S_COMPLETED") {
          say(`Preparing the preview: ${Math.round(100 * (s.progress || 0))}%`, status);
          return;
        }
        watch.close();
        if (!s.result.succeeded || !s.result.files.length) {
          say(`No preview: ${s.error || "nothing was exported"}`, status, true);
          return;
        }
        const player = $("player");
        player.src = await blobUrl(`/api/v1/sessions/${id}/files/${encodeURIComponent(s.result.files[0].path)}`);
        player.hidden = false;
        say("Preview ready.", status);
        await api(`/api/v1/sessions/${id}`, { method: "DELETE" });  // the page keeps its copy
      },
    });
  } catch (error) {
    if (watch) watch.close();
    fail(error, status);
  }
}

// -- sessions -----------------------------------------------------------------------------

const KINDS = { archive: "archive", live: "live" };

function describe(info) {
  const options = info.session.options || {};
  const mode = options.archive ? "archive" : "live";
  const what = options.snapshot ? "snapshot" : "clip";
  const sources = (options.archive || options.live || {}).sources || [];
  const origin = sources.length ? sources[0].origin : "";
  const label = (state.origins.find((o) => o.origin === origin) || {}).label || origin;
  let span = "";
  if (options.archive) {
    const from = options.archive.start_timestamp || "";
    const to = options.archive.end_timestamp || "";
    span = to ? `${from} - ${to}` : from;
  }
  return { kind: `${KINDS[mode]} ${what}`, where: `${label} ${span}`.trim() };
}

function sizeText(bytes) {
  const n = Number(bytes);
  return n > 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
}

function button(text, action, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", action);
  return b;
}

async function download(id, file) {
  try {
    const url = await blobUrl(`/api/v1/sessions/${id}/files/${encodeURIComponent(file.path)}`);
    const link = document.createElement("a");
    link.href = url;
    link.download = file.path;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60e3);
  } catch (error) {
    fail(error);
  }
}

function row(info) {
  const id = info.session.id;
  const s = info.state;
  const { kind, where } = describe(info);
  const tr = document.createElement("tr");
  tr.dataset.session = id;
  tr.dataset.state = s.state;
  const cell = (...children) => {
    const td = document.createElement("td");
    td.append(...children);
    tr.append(td);
    return td;
  };
  cell(id.slice(0, 8));
  cell(where);
  cell(kind);
  const bar = document.createElement("progress");
  bar.max = 1;
  const done = s.state === "S_COMPLETED" || s.state === "S_REMOVED";
  bar.value = done && s.result && s.result.succeeded ? 1 : s.progress || 0;
  const text = document.createElement("span");
  text.className = "state";
  if (s.state === "S_NONE") text.textContent = "queued";
  else if (s.state === "S_RUNNING") text.textContent = `${Math.round(100 * (s.progress || 0))}%`;
  else if (s.state === "S_REMOVED") text.textContent = "removed";
  else if (s.result && s.result.succeeded) text.textContent = "100%";
  else text.textContent = `failed: ${s.error || "unknown reason"}`;
  bar.setAttribute("aria-label", `progress of session ${id.slice(0, 8)}`);
  cell(bar, " ", text);
  const files = (s.state === "S_COMPLETED" && s.result ? s.result.files : []).map((file) =>
    button(`Download ${file.path} (${sizeText(file.size)})`, () => download(id, file)));
  cell(...files);
  const actions = [];
  if (s.state === "S_NONE" || s.state === "S_RUNNING") {
    actions.push(button("Stop", () => act(id, "stop"), `stop session ${id.slice(0, 8)}`));
  }
  if (s.state === "S_COMPLETED" && s.result && s.result.succeeded) {
    actions.push(button("Verify", () => verify(id), `verify session ${id.slice(0, 8)}`));
  }
  if (s.state !== "S_REMOVED") {
    actions.push(button("Delete", () => act(id, "delete"), `delete session ${id.slice(0, 8)}`));
  }
  cell(...actions);
  return tr;
}

async function act(id, what) {
  try {
    if (what === "stop") await json(`/api/v1/sessions/${id}/stop`, { method: "POST" });
    else await api(`/api/v1/sessions/${id}`, { method: "DELETE" });
  } catch (error) {
    fail(error);
  }
}

// -- verification -------------------------------------------------------------------------

const GOOD = new Set(["verified"]);

function frames(processed) {
  if (!processed || !processed.length) return "none";
  return processed.map((p) => `${p.first}..${p.last}${p.why ? ` (${p.why})` : ""}`).join(", ");
}

function verdictRow(file) {
  const tr = document.createElement("tr");
  tr.dataset.file = file.name;
  const cell = (text, className) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    tr.append(td);
  };
  cell(file.name);
  cell(file.status, `verdict ${GOOD.has(file.status) ? "good" : "bad"}`);
  cell(frames(file.processed_frames));
  const details = [file.detail, file.archive && `archive: ${file.archive.detail}`, file.c2pa && `C2PA: ${file.c2pa}`];
  cell(details.filter(Boolean).join("; "));
  return tr;
}

/** The server's check of a completed session's stored files: one verdict per file. */
async function verify(id) {
  const region = $("verification");
  const status = $("verification-status");
  region.hidden = false;
  region.dataset.session = id;
  $("verification-title").textContent = `Verification of session ${id.slice(0, 8)}`;
  $("verification-files").replaceChildren();
  say("Verifying...", status);
  try {
    const query = $("verify-archive").checked ? "?archive=true" : "";
    const report = await json(`/api/v1/sessions/${id}/verification${query}`);
    $("verification-files").replaceChildren(...report.files.map(verdictRow));
    const signer = report.signer ? `, signed by ${report.signer}` : "";
    say(report.ok ? `Verified: every file is as exported${signer}.`
      : `Failed: not every file is as exported${signer}.`, status, !report.ok);
  } catch (error) {
    fail(error, status);
  }
}

function isPreview(info) {
  const settings = (info.session.options || {}).settings || [];
  return settings.some((setting) => setting.file_name === "preview");
}

function drawSessions() {
  // The page's own previews are not the operator's exports: they stay out of the list.
  const rows = [...state.sessions.values()].filter((info) => !isPreview(info)).map(row);
  $("sessions").replaceChildren(...rows);
}

function followSessions() {
  events("/api/v1/sessions/events", {
    sessions: ({ sessions }) => {
      state.sessions = new Map(sessions.map((info) => [info.session.id, info]));
      drawSessions();
    },
    session: (info) => {
      const id = info.session.id;
      if (!state.sessions.has(id)) state.sessions = new Map([[id, info], ...state.sessions]);
      else state.sessions.set(id, info);
      drawSessions();
    },
    dropped: ({ id }) => {
      state.sessions.delete(id);
      drawSessions();
    },
  });
}

// -- wiring -------------------------------------------------------------------------------

$("origin").addEventListener("change", () => pickOrigin().catch(fail));
$("day").addEventListener("change", () => pickDay().catch(fail));
$("refresh").addEventListener("click", () => pickDay().catch(fail));
$("start").addEventListener("change", () => { drawTimeline(); loadMaskFrame(); });
$("end").addEventListener("change", drawTimeline);
$("preview").addEventListener("click", preview);
$("export").addEventListener("click", startExport);
$("mask-close").addEventListener("click", () => mask.close());
$("mask-undo").addEventListener("click", () => mask.undo());
$("mask-clear").addEventListener("click", () => mask.clear());
$("mask-canvas").addEventListener("keydown", (event) => {
  if (event.key === "Enter") mask.close();
  if (event.key === "Backspace") mask.undo();
});

installLogin();
mask.draw();
followSessions();
loadOrigins().catch(fail);
