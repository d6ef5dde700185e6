// The counter page. Everything it shows comes from the local app; it keeps no verdict after
// the clerk clears it or moves on (no storage API is used; the verdict's elements are removed),
// and the camera is on only while scanning.
"use strict";

const CHANGE_HEADER = { "X-Jigap-Counter": "1" }; // the app refuses changes without it
const FRAME_INTERVAL_MS = 120; // at most about 8 frames a second, one at a time
const BUSY_RETRY_MS = 200;
const CLEAR_AFTER_MS = 120 * 1000; // a verdict left on screen is cleared after two minutes
const TRUST_REFRESH_MS = 30 * 1000;
const HINTS = {
  no_qr: "QR을 카메라에 비춰 주세요 · Hold the answer QR to the camera",
  several_qr: "QR을 하나만 비춰 주세요 · Show one QR at a time",
  request_qr: "이것은 요청 QR입니다: 휴대전화의 응답 QR을 비춰 주세요 · That is the request QR: show the phone's answer QR",
  not_a_certificate: "증명서 QR이 아닙니다 · Not a certificate QR",
  not_an_image: "읽을 수 없는 이미지입니다 · Not an image this app can read",
  too_large: "이미지가 너무 큽니다 · The image is too large",
};

const state = {
  counter: null,
  purposes: [],
  check: null, // the check under way: {check_id, purpose, mode, expires_at}
  stream: null,
  scanning: false,
  clearTimer: null,
  expiryTimer: null,
};
// Round trips of the last frames, from grabbing a frame to the verdict on screen (ms): no data.
window.jigapCounterTimings = [];

const $ = (id) => document.getElementById(id);

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text; // never parsed as HTML
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers }, cache: "no-store" };
  if (method !== "GET") Object.assign(init.headers, CHANGE_HEADER);
  if (body instanceof Blob) {
    init.body = body;
    init.headers["Content-Type"] = body.type || "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  let data = {};
  try { data = await response.json(); } catch (_) { data = {}; }
  return { status: response.status, ok: response.ok, data };
}

function show(panel) {
  for (const id of ["idle", "request", "scanning", "verdict"]) $(id).hidden = id !== panel;
}

// -- who this counter is, and what it may check ---------------------------------------------

async function loadCounter() {
  const { ok, data } = await api("GET", "/api/counter");
  const problem = $("counter-problem");
  if (!ok) {
    problem.textContent = `이 창구를 사용할 수 없습니다: 동기화하세요 · This counter cannot check now: sync (${data.error || "error"})`;
    problem.hidden = false;
    $("purpose-list").replaceChildren();
    return;
  }
  problem.hidden = true;
  state.counter = data;
  state.purposes = data.purposes;
  $("counter-name").textContent = `${data.name_ko} · ${data.name_en}`;
  const items = data.purposes.map((purpose, index) => {
    const key = index < 9 ? String(index + 1) : "";
    const button = element("button", null, { type: "button", "data-purpose": purpose.id });
    if (key) button.append(element("kbd", key), " ");
    button.append(`${purpose.name_ko} · ${purpose.name_en}`);
    const asks = purpose.credentials
      .map((c) => `${c.name_ko}: ${c.claims_ko.join(", ")}`)
      .join(" / ");
    button.append(element("span", asks, { class: "asks" }));
    const mode = purpose.one_way
      ? `한 방향(요청 없이) · one-way, ${purpose.window_seconds} s`
      : "양방향(요청 QR) · two-way (request QR)";
    button.append(element("span", mode, { class: "mode" }));
    if (!purpose.available) {
      button.disabled = true;
      button.title = "이 창구의 서명 키로 앱을 시작해야 합니다 · start the app with the counter's key";
    }
    button.addEventListener("click", () => choose(purpose.id));
    const item = element("li");
    item.append(button);
    return item;
  });
  $("purpose-list").replaceChildren(...items);
}

// -- a check ----------------------------------------------------------------------------------

async function choose(purposeId) {
  await endCheck();
  const { ok, data } = await api("POST", "/api/checks", { purpose_id: purposeId });
  if (!ok) {
    showProblem(data);
    return;
  }
  state.check = data;
  const title = `${data.purpose.name_ko} · ${data.purpose.name_en}`;
  if (data.mode === "two_way") {
    $("request-title").textContent = title;
    $("request-qr").src = data.request_qr;
    $("request-asks").textContent = data.purpose.credentials
      .map((c) => `${c.name_ko} (${c.name_en}): ${c.claims_ko.join(", ")} · ${c.claims_en.join(", ")}`)
      .join(" / ");
    show("request");
    tickExpiry();
    state.expiryTimer = setInterval(tickExpiry, 1000);
    $("scan-answer").focus();
  } else {
    startScanning(title);
  }
}

function tickExpiry() {
  if (!state.check || !state.check.expires_at) return;
  const left = Math.max(0, Math.round(state.check.expires_at - Date.now() / 1000));
  $("request-expiry").textContent = left > 0
    ? `남은 시간 ${left}초 · ${left} s left to answer`
    : "요청 시간이 지났습니다: N으로 새 요청 · The request expired: N for a new one";
}

async function startScanning(title) {
  if (!state.check) return;
  clearInterval(state.expiryTimer);
  $("scanning-title").textContent = title || `${state.check.purpose.name_ko} · ${state.check.purpose.name_en}`;
  show("scanning");
  hint("카메라를 켜는 중… · Starting the camera…");
  const video = $("camera");
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
  } catch (error) {
    hint(`카메라를 쓸 수 없습니다: 사진을 올리세요(U) · Camera unavailable: upload a photo (U) — ${error.name}`);
    return;
  }
  video.srcObject = state.stream;
  await video.play().catch(() => {});
  state.scanning = true;
  hint(HINTS.no_qr);
  scanLoop(state.check.check_id);
}

function stopCamera() {
  state.scanning = false;
  if (state.stream) {
    for (const track of state.stream.getTracks()) track.stop();
    state.stream = null;
  }
  $("camera").srcObject = null;
}

async function scanLoop(checkId) {
  const video = $("camera");
  const canvas = document.createElement("canvas");
  while (state.scanning && state.check && state.check.check_id === checkId) {
    const started = performance.now();
    if (video.videoWidth > 0) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      const frame = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
      const encoded = performance.now();
      if (frame && state.scanning && state.check && state.check.check_id === checkId) {
        const { status, data } = await api("POST", `/api/checks/${checkId}/frames`, frame);
        if (!state.scanning || !state.check || state.check.check_id !== checkId) return;
        if (handleRead(status, data, started, encoded - started)) return;
        if (status === 429) { await sleep(BUSY_RETRY_MS); continue; }
      }
    }
    await sleep(Math.max(0, FRAME_INTERVAL_MS - (performance.now() - started)));
  }
}

// true when the read ended the scan (a verdict, or the check is gone).
function handleRead(status, data, started, encodeMs = null) {
  if (status === 200 && data.outcome === "verdict") {
    showVerdict(data.verdict);
    window.jigapCounterTimings.push({
      round_trip_ms: performance.now() - started,
      encode_ms: encodeMs, // grabbing the frame off the video and encoding it as JPEG
      decode_ms: data.timings.decode_ms,
      verify_ms: data.timings.verify_ms,
    });
    if (window.jigapCounterTimings.length > 100) window.jigapCounterTimings.shift();
    return true;
  }
  if (status === 200) {
    hint(HINTS[data.outcome] || data.outcome);
    return false;
  }
  if (status === 413 || status === 415) {
    hint(HINTS[data.error] || data.error);
    return false;
  }
  if (status === 429) return false;
  stopCamera();
  showProblem(data);
  return true;
}

async function uploadPhoto(file) {
  if (!state.check || !file) return;
  const started = performance.now();
  hint("사진을 읽는 중… · Reading the photo…");
  const { status, data } = await api("POST", `/api/checks/${state.check.check_id}/photos`, file);
  if (status === 429) {
    hint("잠시 후 다시 올리세요 · Busy: upload again");
    return;
  }
  handleRead(status, data, started);
}

function hint(text) { $("scan-hint").textContent = text; }
function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

function showProblem(data) {
  const reason = data.error === "unknown_check"
    ? "이 확인은 끝났습니다: 항목을 다시 고르세요 · This check has ended: choose again"
    : `확인할 수 없습니다 · Cannot check now (${data.error || "error"}): ${data.error_description || ""}`;
  show("idle");
  $("counter-problem").textContent = reason;
  $("counter-problem").hidden = false;
}

// -- the verdict --------------------------------------------------------------------------

function showVerdict(verdict) {
  stopCamera();
  const check = state.check;
  state.check = null; // the app ended it: one verdict a check
  const panel = $("verdict");
  panel.className = `panel verdict ${verdict.valid ? "valid" : "refused"}`;
  const parts = [];
  if (verdict.valid) {
    parts.push(element("p", "✔ 유효 · VALID", { class: "headline" }));
    parts.push(element("p", `${verdict.credential.name_ko} · ${verdict.credential.name_en}`, { class: "what" }));
    parts.push(element("p", `발급: ${verdict.issuer.name_ko} · Issued by ${verdict.issuer.name_en}`, { class: "meta" }));
    const table = element("table");
    table.append(element("caption", "제시된 항목 · Shown", { class: "visually-hidden" }));
    for (const row of verdict.claims) {
      const tr = element("tr");
      tr.append(element("th", `${row.label_ko} · ${row.label_en}`, { scope: "row" }), element("td", row.value));
      table.append(tr);
    }
    parts.push(table);
    const status = verdict.status;
    const freshness = status.fresh
      ? `상태 정보: ${status.age_ko} 전 확인 · Status checked ${status.age_en} ago`
      : `주의: 상태 정보가 ${status.age_ko} 전 것입니다 · Caution: status data is ${status.age_en} old`;
    parts.push(element("p", freshness, { class: "meta" }));
  } else {
    parts.push(element("p", "✘ 거절 · REFUSED", { class: "headline" }));
    parts.push(element("p", `${verdict.reason_ko} · ${verdict.reason_en}`, { class: "what" }));
    parts.push(element("p", `${verdict.action_ko} · ${verdict.action_en}`, { class: "action" }));
    parts.push(element("p", `code: ${verdict.code}`, { class: "code" }));
  }
  const next = element("p", null, { class: "next" });
  const clearButton = element("button", "지우기 · Clear ", { type: "button" });
  clearButton.append(element("kbd", "Esc"));
  clearButton.addEventListener("click", clearVerdict);
  const nextButton = element("button", "다음 고객 · Next customer ", { type: "button" });
  nextButton.append(element("kbd", "N"));
  nextButton.addEventListener("click", () => nextCustomer(check && check.purpose.id));
  next.append(clearButton, " ", nextButton);
  parts.push(next);
  panel.replaceChildren(...parts);
  panel.dataset.purpose = check ? check.purpose.id : "";
  show("verdict");
  panel.focus();
  clearTimeout(state.clearTimer);
  state.clearTimer = setTimeout(clearVerdict, CLEAR_AFTER_MS);
  loadLog();
}

function clearVerdict() {
  clearTimeout(state.clearTimer);
  const panel = $("verdict");
  panel.replaceChildren(); // the claims leave the page with their elements
  panel.className = "panel verdict";
  show("idle");
}

async function nextCustomer(purposeId) {
  const again = purposeId || $("verdict").dataset.purpose || (state.check && state.check.purpose.id);
  clearVerdict();
  if (again) await choose(again);
}

async function endCheck() {
  stopCamera();
  clearInterval(state.expiryTimer);
  const check = state.check;
  state.check = null;
  if (check) await api("DELETE", `/api/checks/${check.check_id}`);
}

async function cancel() {
  await endCheck();
  clearVerdict();
}

// -- trust data ---------------------------------------------------------------------------------

async function loadTrust() {
  const { data } = await api("GET", "/api/trust");
  const summary = $("trust-summary");
  const rows = [];
  if (!data.usable) {
    summary.className = "trust-summary bad";
    summary.textContent = "신뢰 정보를 쓸 수 없습니다: 동기화하세요 · Trust data unusable: sync now";
  } else if (data.stale) {
    summary.className = "trust-summary warn";
    summary.textContent = `주의: 신뢰 정보가 ${data.oldest_age_ko} 전 것입니다: 동기화하세요 · Warning: trust data is ${data.oldest_age_en} old: sync`;
  } else {
    summary.className = "trust-summary ok";
    summary.textContent = `신뢰 정보: ${data.oldest_age_ko} 전 동기화 · Trust data synced ${data.oldest_age_en} ago`;
  }
  if (data.usable) {
    const list = data.trust_list;
    rows.push(row(`신뢰 목록 · Trust list #${list.sequence} (~${isoTime(list.expires_at)})`, list.synced_at ? isoTime(list.synced_at) : "—", false));
    for (const held of data.status_lists) {
      rows.push(row(`상태 목록 · Status list: ${held.issuer_ko} · ${held.issuer_en}`, `${isoTime(held.synced_at)} (${held.age_ko} · ${held.age_en})`, held.stale));
    }
  }
  if (data.last_sync) {
    rows.push(row("마지막 동기화 · Last sync", `${isoTime(data.last_sync.at)} ${data.last_sync.ok ? "✔" : "✘"} ${data.last_sync.detail}`, !data.last_sync.ok));
  }
  $("trust-table").tBodies[0].replaceChildren(...rows);
  const sync = $("sync");
  sync.disabled = !data.can_sync;
  sync.title = data.can_sync ? "" : "동기화할 주소가 없습니다 · no source to sync from (jigap verify sync)";
}

function row(what, when, stale) {
  const tr = element("tr", null, stale ? { class: "stale" } : {});
  tr.append(element("td", what), element("td", when));
  return tr;
}

function isoTime(seconds) {
  const date = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

async function syncNow() {
  const button = $("sync");
  if (button.disabled) return;
  button.disabled = true;
  $("trust-summary").textContent = "동기화 중… · Syncing…";
  await api("POST", "/api/sync");
  await loadTrust();
  await loadCounter();
}

async function loadLog() {
  const { ok, data } = await api("GET", "/api/log");
  if (!ok) return;
  const items = data.entries.map((entry) =>
    element("li", `${isoTime(entry.at)} ${entry.purpose} ${entry.verdict}${entry.code ? ` (${entry.code})` : ""} [${entry.source}]`));
  $("log-list").replaceChildren(...items);
}

// -- keys ---------------------------------------------------------------------------------------

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target instanceof HTMLInputElement) return;
  const key = event.key;
  if (/^[1-9]$/.test(key)) {
    const purpose = state.purposes[Number(key) - 1];
    if (purpose && purpose.available) { event.preventDefault(); choose(purpose.id); }
  } else if (key === "Enter") {
    if (!$("request").hidden) { event.preventDefault(); startScanning(); }
  } else if (key === "Escape") {
    event.preventDefault();
    cancel();
  } else if (key === "n" || key === "N") {
    event.preventDefault();
    nextCustomer();
  } else if (key === "u" || key === "U") {
    if (!$("scanning").hidden) { event.preventDefault(); $("upload").click(); }
  } else if (key === "s" || key === "S") {
    event.preventDefault();
    syncNow();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("sync").addEventListener("click", syncNow);
  $("scan-answer").addEventListener("click", () => startScanning());
  $("cancel").addEventListener("click", cancel);
  $("upload-button").addEventListener("click", () => $("upload").click());
  $("upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = ""; // the file is not kept by the input either
    uploadPhoto(file);
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("pagehide", () => { stopCamera(); clearVerdict(); });
  loadCounter();
  loadTrust();
  setInterval(loadTrust, TRUST_REFRESH_MS);
  loadLog();
});
