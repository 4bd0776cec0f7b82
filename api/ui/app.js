// The taskq dashboard: a page of the API that reads and acts through its REST routes only, so
// the token rules and the audit trail apply to it as to any client. Every node is built with
// textContent and setAttribute, never from HTML text: names, payloads, results and errors are
// whatever a producer or a handler wrote.

const REFRESH_MS = 3000;
const TOKEN_KEY = "taskq.token";
const PAGE_SIZE = 50;
const SPARK_MINUTES = 30;
const STATUSES = ["QUEUED", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"];
const SVG_NS = "http://www.w3.org/2000/svg";

// -- the REST API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

class AuthError extends ApiError {}

function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function problemText(response, data) {
  const head = `${response.status} ${response.statusText || "error"}`;
  if (!data || typeof data !== "object" || Array.isArray(data)) {
    return head;
  }
  const lines = [data.title ? `${response.status} ${data.title}` : head];
  if (data.detail) lines.push(String(data.detail));
  for (const param of Array.isArray(data.invalid_params) ? data.invalid_params : []) {
    lines.push(`${param.name}: ${param.reason}`);
  }
  if (data.hint) lines.push(String(data.hint));
  return lines.join("\n");
}

// One call of the API: the parsed JSON, or ApiError (AuthError for a 401) with the
// problem+json's title, detail and invalid fields as its message.
async function api(path, { method = "GET", query = {}, body } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json, application/problem+json" };
  const token = storedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiError(0, `The API cannot be reached (${error.message}).`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.status === 401) throw new AuthError(401, problemText(response, data));
  if (!response.ok) throw new ApiError(response.status, problemText(response, data));
  return data;
}

// A route another version of the API may lack: null when it answers 404.
async function optional(path, options) {
  try {
    return await api(path, options);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

// -- building nodes ----------------------------------------------------------------------------

// el("td", {class: "num", "data-field": "queued"}, 3): attributes by setAttribute, children as
// text nodes (strings, numbers) or nodes; null and undefined children are left out.
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  append(node, children);
  return node;
}

function link(hash, ...children) {
  return el("a", { href: hash }, ...children);
}

function json(value) {
  return el("pre", {}, value === undefined ? "—" : JSON.stringify(value, null, 2));
}

function errorBox(message) {
  return el("p", { class: "error", role: "alert" }, message);
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function taskHash(id) {
  return `#/tasks/${encodeURIComponent(id)}`;
}

function queueTasksHash(queue) {
  return `#/tasks${query({ queue })}`;
}

// -- formats -----------------------------------------------------------------------------------

function time(iso) {
  if (!iso) return "—";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return String(iso);
  return el("time", { datetime: iso, title: iso }, moment.toISOString().slice(0, 19).replace("T", " "));
}

function seconds(value) {
  if (value === null || value === undefined) return "—";
  const s = Number(value);
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function rateLimit(limit) {
  if (!limit) return "—";
  const burst = limit.burst === null || limit.burst === undefined ? "" : `, burst ${limit.burst}`;
  return `${limit.rate} per ${limit.per} s${burst}`;
}

function firstLine(text, length = 80) {
  if (!text) return "";
  const line = String(text).split("\n")[0];
  return line.length > length ? `${line.slice(0, length)}…` : line;
}

function statusCell(status) {
  return el("td", { class: `status-${status}`, "data-field": "status" }, status);
}

// -- the throughput sparkline ------------------------------------------------------------------

// Stacked bars of the tasks a queue finished per minute (completed, failed, cancelled) over the
// last SPARK_MINUTES minutes: its rows of GET /api/throughput, one per minute, oldest first,
// the last ending now (a minute with none is a row of zeros).
function sparkline(rows) {
  const width = 120;
  const height = 24;
  const ordered = [...rows].sort((a, b) => Date.parse(a.bucket_start) - Date.parse(b.bucket_start));
  const bar = width / Math.max(ordered.length, 1);
  const finished = (row) => row.completed + row.failed + row.cancelled;
  const peak = Math.max(1, ...ordered.map(finished));
  const total = ordered.reduce((sum, row) => sum + finished(row), 0);
  const summary = `${total} finished in the last ${SPARK_MINUTES} minutes`;
  const chart = svg("svg", {
    class: "spark",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": summary,
  });
  chart.append(svg("title", {}, `${summary} (at most ${peak} in a minute)`));
  chart.append(svg("line", { class: "base", x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }));
  ordered.forEach((row, i) => {
    let y = height;
    for (const outcome of ["completed", "failed", "cancelled"]) {
      const h = (row[outcome] / peak) * (height - 2);
      if (!(h > 0)) continue;
      y -= h;
      chart.append(svg("rect", { class: outcome, x: i * bar + 0.5, y, width: Math.max(bar - 1, 1), height: h }));
    }
  });
  return chart;
}

// -- the confirm dialog ------------------------------------------------------------------------

const dialog = {
  node: document.getElementById("act"),
  form: document.getElementById("act-form"),
  title: document.getElementById("act-title"),
  text: document.getElementById("act-text"),
  reason: document.getElementById("act-reason"),
  concurrency: document.getElementById("act-concurrency"),
  concurrencyLabel: document.getElementById("act-concurrency-label"),
  error: document.getElementById("act-error"),
  cancel: document.getElementById("act-cancel"),
  run: null,
};

// Ask before an act, with an optional reason (and the slots, for a queue's concurrency); `run`
// gets {reason, concurrency} and does the call. An error of the API stays in the dialog.
function ask({ title, text, run, concurrency }) {
  dialog.title.textContent = title;
  dialog.text.textContent = text;
  dialog.reason.value = "";
  dialog.error.hidden = true;
  dialog.error.textContent = "";
  const withSlots = concurrency !== undefined;
  dialog.concurrencyLabel.hidden = !withSlots;
  dialog.concurrency.value = withSlots && concurrency !== null ? String(concurrency) : "";
  dialog.run = run;
  dialog.node.showModal();
  (withSlots ? dialog.concurrency : dialog.reason).focus();
}

dialog.cancel.addEventListener("click", () => dialog.node.close());
dialog.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const values = { reason: dialog.reason.value.trim() || null };
  if (!dialog.concurrencyLabel.hidden) {
    if (dialog.concurrency.validity.badInput) {
      dialog.error.textContent = "Slots must be a whole number, or empty for unlimited.";
      dialog.error.hidden = false;
      return;
    }
    const text = dialog.concurrency.value.trim();
    values.concurrency = text === "" ? null : Number(text);
  }
  try {
    await dialog.run(values);
    dialog.node.close();
    refresh();
  } catch (error) {
    if (error instanceof AuthError) {
      dialog.node.close();
      showTokenForm(error);
      return;
    }
    dialog.error.textContent = error.message;
    dialog.error.hidden = false;
  }
});

// -- views: each gives its controls (kept across refreshes) and a load() of its data ------------

function queuesView() {
  return {
    title: "Queues",
    async load() {
      const [queues, rows] = await Promise.all([
        api("/api/queues"),
        optional("/api/throughput", { query: { bucket: 60, buckets: SPARK_MINUTES } }),
      ]);
      if (queues.length === 0) {
        return el("p", { class: "note" }, "No queue yet: a queue is made by its first task or setting.");
      }
      const body = queues.map((queue) =>
        el(
          "tr",
          { "data-queue": queue.queue, class: queue.paused ? "paused" : null },
          el("td", {}, link(queueTasksHash(queue.queue), queue.queue)),
          el("td", { class: "num", "data-field": "queued" }, queue.queued),
          el("td", { class: "num", "data-field": "scheduled" }, queue.scheduled),
          el(
            "td",
            { class: "num" },
            el("span", { "data-field": "running" }, queue.running),
            " / ",
            el("span", { "data-field": "concurrency" }, queue.concurrency ?? "unlimited"),
          ),
          el("td", { class: "num", "data-field": "paused_tasks" }, queue.paused_tasks),
          el("td", { class: "num", "data-field": "completed" }, queue.completed),
          el("td", { class: "num", "data-field": "failed" }, queue.failed),
          el("td", { class: "num", "data-field": "cancelled" }, queue.cancelled),
          el("td", { class: "num", "data-field": "oldest_wait" }, seconds(queue.oldest_wait)),
          el("td", { class: "num", "data-field": "key_concurrency" }, queue.key_concurrency ?? "—"),
          el("td", { class: "nowrap", "data-field": "rate_limit" }, rateLimit(queue.rate_limit)),
          el(
            "td",
            {},
            rows === null
              ? "—"
              : sparkline(rows.filter((row) => row.queue === queue.queue)),
          ),
          el("td", { "data-field": "paused" }, queue.paused ? "paused" : "running"),
          el("td", { class: "nowrap" }, queueActions(queue)),
        ),
      );
      return el(
        "table",
        {},
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ["Queue", "Queued", "Scheduled", "Running / slots", "Paused tasks", "Completed", "Failed",
              "Cancelled", "Oldest wait", "Key limit", "Rate limit", `Finished / min (${SPARK_MINUTES} min)`,
              "State", ""].map((name, i) => el("th", { class: i >= 1 && i <= 9 ? "num" : null }, name)),
          ),
        ),
        el("tbody", {}, body),
      );
    },
  };
}

function queueActions(queue) {
  const path = `/api/queues/${encodeURIComponent(queue.queue)}`;
  const pause = el("button", { type: "button", "data-action": queue.paused ? "resume" : "pause" },
    queue.paused ? "Resume" : "Pause");
  pause.addEventListener("click", () =>
    ask({
      title: `${queue.paused ? "Resume" : "Pause"} queue ${queue.queue}`,
      text: queue.paused
        ? "Workers claim its tasks again."
        : "Workers stop claiming its tasks; running tasks finish.",
      run: ({ reason }) => api(path, { method: "PATCH", body: { paused: !queue.paused, reason } }),
    }),
  );
  const slots = el("button", { type: "button", "data-action": "concurrency" }, "Slots…");
  slots.addEventListener("click", () =>
    ask({
      title: `Slots of queue ${queue.queue}`,
      text: "How many of its tasks may run at once. Running tasks are never interrupted.",
      concurrency: queue.concurrency,
      run: ({ reason, concurrency }) =>
        api(path, { method: "PATCH", body: { concurrency, reason } }),
    }),
  );
  return [pause, slots];
}

function tasksView(params) {
  const filters = {
    status: params.get("status") || "",
    queue: params.get("queue") || "",
    name: params.get("name") || "",
  };
  const cursor = params.get("cursor") || "";
  const status = el("select", { name: "status" }, el("option", { value: "" }, "any"),
    STATUSES.map((s) => el("option", { value: s, selected: s === filters.status ? "" : null }, s)));
  const queue = el("input", { name: "queue", value: filters.queue, autocomplete: "off" });
  const name = el("input", { name: "name", value: filters.name, autocomplete: "off" });
  const form = el("form", { class: "filters" },
    el("label", {}, "Status", status),
    el("label", {}, "Queue", queue),
    el("label", {}, "Name", name),
    el("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    window.location.hash = `#/tasks${query({ status: status.value, queue: queue.value, name: name.value })}`;
  });
  return {
    title: "Tasks",
    controls: form,
    async load() {
      const page = await api("/api/tasks", { query: { ...filters, cursor, limit: PAGE_SIZE } });
      const rows = page.items.map((task) =>
        el("tr", { "data-task": task.id },
          el("td", { class: "mono" }, link(taskHash(task.id), task.id)),
          el("td", {}, task.name),
          el("td", {}, link(queueTasksHash(task.queue), task.queue)),
          statusCell(task.status),
          el("td", {}, task.priority),
          el("td", { class: "num" }, `${task.attempts} / ${task.max_attempts}`),
          el("td", {}, time(task.created_at)),
          el("td", {}, time(task.scheduled_at)),
          el("td", {}, time(task.finished_at)),
          el("td", {}, firstLine(task.last_error))));
      const pager = el("div", { class: "pager" });
      if (cursor) pager.append(link(`#/tasks${query(filters)}`, "← Newest"));
      if (page.next_cursor) {
        pager.append(link(`#/tasks${query({ ...filters, cursor: page.next_cursor })}`, "Older →"));
      }
      if (rows.length === 0) {
        return el("div", {}, el("p", { class: "note" }, "No task matches."), pager);
      }
      return el("div", {},
        el("table", {},
          el("thead", {}, el("tr", {}, ["Id", "Name", "Queue", "Status", "Priority", "Attempts",
            "Created (UTC)", "Scheduled (UTC)", "Finished (UTC)", "Last error"].map((h) => el("th", {}, h)))),
          el("tbody", {}, rows)),
        pager);
    },
  };
}

const TASK_ACTS = [
  { act: "pause", label: "Pause", method: "PATCH", from: ["QUEUED"],
    text: "The task stays queued but is not claimed until it is resumed." },
  { act: "resume", label: "Resume", method: "PATCH", from: ["PAUSED"],
    text: "The task is queued again in its place." },
  { act: "cancel", label: "Cancel", method: "POST", from: ["QUEUED", "PAUSED", "RUNNING"],
    text: "A queued task ends CANCELLED; a running one is stopped by its worker." },
  { act: "retry", label: "Retry", method: "POST", from: ["FAILED", "CANCELLED"],
    text: "The task is queued again, due now, its attempts from zero." },
];

function taskActions(task) {
  const bar = el("div", { class: "actions" });
  for (const act of TASK_ACTS.filter((a) => a.from.includes(task.status))) {
    const button = el("button", { type: "button", "data-action": act.act }, act.label);
    button.addEventListener("click", () =>
      ask({
        title: `${act.label} task ${task.name}`,
        text: act.text,
        run: ({ reason }) =>
          api(`/api/tasks/${encodeURIComponent(task.id)}/${act.act}`, {
            method: act.method,
            query: { reason },
          }),
      }),
    );
    bar.append(button);
  }
  return bar;
}

function taskView(id) {
  return {
    title: "Task",
    heading: false,
    async load() {
      const [task, audit] = await Promise.all([
        api(`/api/tasks/${encodeURIComponent(id)}`),
        api("/api/audit", { query: { task_id: id, limit: 100 } }),
      ]);
      const fields = [
        ["Id", el("span", { class: "mono" }, task.id)],
        ["Name", task.name],
        ["Queue", link(queueTasksHash(task.queue), task.queue)],
        ["Status", el("span", { class: `status-${task.status}`, "data-field": "status" }, task.status)],
        ["Priority", task.priority],
        ["Attempts", `${task.attempts} of ${task.max_attempts}`],
        ["Created", time(task.created_at)],
        ["Scheduled", time(task.scheduled_at)],
        ["Started", time(task.started_at)],
        ["Finished", time(task.finished_at)],
        ["Time to execute", seconds(task.time_to_execute)],
        ["Unique key", task.unique_key ?? "—"],
        ["Concurrency key", task.concurrency_key ?? "—"],
        ["Timeout", task.timeout ?? "—"],
      ];
      const errors = Array.isArray(task.errors) ? task.errors : [];
      return el("div", {},
        el("h1", {}, "Task ", el("span", { class: "mono" }, task.name)),
        taskActions(task),
        el("dl", { class: "fields" }, fields.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
        el("h2", {}, "Payload"),
        el("div", { "data-field": "payload" }, json(task.payload)),
        el("h2", {}, "Result"),
        el("div", { "data-field": "result" }, json(task.result)),
        el("h2", {}, "Progress"),
        task.progress === null || task.progress === undefined
          ? el("p", { class: "note" }, "None reported.")
          : el("div", { "data-field": "progress" }, json(task.progress),
            el("p", { class: "note" }, "reported at ", time(task.progress_at))),
        el("h2", {}, `Errors (${errors.length})`),
        errors.length === 0
          ? el("p", { class: "note" }, "No attempt failed.")
          : el("div", { "data-field": "errors" }, errors.map((error) =>
            el("section", { class: "attempt" },
              el("h3", {}, `Attempt ${error.attempt} · `, time(error.at)),
              el("pre", {}, error.error ?? "")))),
        el("h2", {}, "Audit"),
        auditTable(audit.items));
    },
  };
}

function auditTable(items) {
  if (items.length === 0) return el("p", { class: "note" }, "No admin act on this task.");
  const compact = (value) => (value === null || value === undefined ? "—" : JSON.stringify(value));
  return el("table", { "data-field": "audit" },
    el("thead", {}, el("tr", {}, ["At (UTC)", "Action", "Actor", "Database user", "Reason", "Before",
      "After"].map((h) => el("th", {}, h)))),
    el("tbody", {}, items.map((row) => el("tr", {},
      el("td", {}, time(row.at)),
      el("td", {}, row.action),
      el("td", {}, row.actor ?? "—"),
      el("td", {}, row.db_user ?? "—"),
      el("td", {}, row.reason ?? "—"),
      el("td", { class: "mono" }, compact(row.before)),
      el("td", { class: "mono" }, compact(row.after))))));
}

// A list of objects as a table: the named columns first, then any other field the rows have.
function table(rows, columns, cell = (key, value) => value) {
  const keys = [...columns];
  for (const row of rows) for (const key of Object.keys(row)) if (!keys.includes(key)) keys.push(key);
  const show = (key, value) => {
    const shown = cell(key, value);
    if (shown instanceof Node) return shown;
    if (shown === null || shown === undefined) return "—";
    if (typeof shown === "object") return JSON.stringify(shown);
    return shown;
  };
  return el("table", {},
    el("thead", {}, el("tr", {}, keys.map((k) => el("th", {}, k.replaceAll("_", " "))))),
    el("tbody", {}, rows.map((row) =>
      el("tr", {}, keys.map((k) => el("td", { "data-field": k }, show(k, row[k])))))));
}

function timesAndTasks(key, value) {
  if (value !== null && typeof value === "string" && /_at$/.test(key)) return time(value);
  if (value && /task_id$/.test(key)) return link(taskHash(value), value);
  return value;
}

function workerCell(key, value) {
  if (key === "queues" && value === null) return "all";
  if (key === "task_names" && value === null) return "any";
  if (key === "queues" || key === "task_names") return value.join(", ");
  if (key === "alive") return value ? "alive" : "presumed dead";
  if (key === "lease") return seconds(value);
  return timesAndTasks(key, value);
}

function workersView() {
  return {
    title: "Workers",
    async load() {
      const workers = await optional("/api/workers");
      if (workers === null) return el("p", { class: "note" }, "This API has no /api/workers.");
      if (workers.length === 0) return el("p", { class: "note" }, "No worker is registered.");
      return table(workers, ["name", "host", "pid", "queues", "task_names", "running", "alive",
        "started_at", "heartbeat_at", "lease"], workerCell);
    },
  };
}

function schedulesView() {
  return {
    title: "Schedules",
    async load() {
      const schedules = await api("/api/schedules");
      if (schedules.length === 0) return el("p", { class: "note" }, "No schedule.");
      return table(schedules, ["name", "task_name", "cron", "time_zone", "queue", "priority",
        "next_run_at", "last_run_at", "last_task_id", "missed"], timesAndTasks);
    },
  };
}

// -- routing, the token, the refresh loop ------------------------------------------------------

const main = document.getElementById("main");
const statusLine = document.getElementById("status");
const forget = document.getElementById("forget");
const state = { view: null, data: null, generation: 0, inflight: false, again: false, timer: null,
  needToken: false };

function viewOf(hash) {
  const [path, search] = hash.replace(/^#/, "").split("?", 2);
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(search || "");
  if (parts[0] === "tasks" && parts.length > 1) return ["tasks", taskView(decodeURIComponent(parts[1]))];
  if (parts[0] === "tasks") return ["tasks", tasksView(params)];
  if (parts[0] === "workers") return ["workers", workersView()];
  if (parts[0] === "schedules") return ["schedules", schedulesView()];
  return ["queues", queuesView()];
}

function setStatus(text) {
  statusLine.textContent = text;
}

function mount() {
  const [name, view] = viewOf(window.location.hash);
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("current", a.dataset.view === name);
  }
  forget.hidden = !storedToken();
  state.generation += 1;
  state.view = view;
  state.needToken = false;
  state.data = el("section", { id: "data" }, el("p", { class: "note" }, "Loading…"));
  document.title = `taskq · ${view.title}`;
  const heading = view.heading === false ? null : el("h1", {}, view.title);
  main.replaceChildren(...[heading, view.controls, state.data].filter(Boolean));
  refresh();
}

function showTokenForm(error) {
  state.needToken = true;
  const refused = Boolean(storedToken());
  sessionStorage.removeItem(TOKEN_KEY);
  forget.hidden = true;
  const input = el("input", { type: "password", name: "token", id: "token", autocomplete: "off",
    required: "" });
  const form = el("form", { class: "token", id: "token-form" },
    el("h1", {}, "This API wants a token"),
    el("p", {}, "Enter one of the API's tokens (TASKQ_API_TOKEN or TASKQ_API_TOKENS). It is kept in "
      + "this tab's session storage only and sent as Authorization: Bearer."),
    refused ? errorBox(`The token was refused: ${error.message}`) : null,
    el("label", {}, "Token", input),
    el("div", {}, el("button", { type: "submit" }, "Use this token")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    mount();
  });
  main.replaceChildren(form);
  setStatus("a token is needed");
  input.focus();
}

async function refresh() {
  if (state.inflight) {
    state.again = true;
    return;
  }
  state.inflight = true;
  const generation = state.generation;
  const { view, data } = state;
  try {
    const node = await view.load();
    if (generation === state.generation && !state.needToken) {
      data.replaceChildren(node);
      setStatus(`updated ${new Date().toLocaleTimeString()}`);
    }
  } catch (error) {
    if (generation === state.generation && !state.needToken) {
      if (error instanceof AuthError) {
        showTokenForm(error);
      } else {
        const message = error instanceof ApiError ? error.message : `The page failed: ${error}`;
        data.replaceChildren(errorBox(message));
        setStatus("the last refresh failed");
      }
    }
  } finally {
    state.inflight = false;
    if (state.again) {
      state.again = false;
      refresh();
    }
  }
}

// Refresh every REFRESH_MS while the tab is seen, a token is known and no dialog is open; a
// refresh still in flight when the next is due is not doubled.
function loop() {
  clearTimeout(state.timer);
  if (document.hidden) {
    setStatus("paused while the tab is hidden");
    return;
  }
  state.timer = setTimeout(async () => {
    if (!state.needToken && !dialog.node.open && !state.inflight) await refresh();
    loop();
  }, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && !state.needToken) refresh();
  loop();
});
window.addEventListener("hashchange", mount);
forget.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  mount();
});

mount();
loop();
