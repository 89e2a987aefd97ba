// The image list: filters by name, status and visibility, sort, paging with the API's marker, and live
// progress for images being imported or uploaded.
import { ApiError } from "../api.js";
import { field, h, select, sleep } from "../dom.js";
import { humanBytes, humanDate } from "../format.js";
import { t } from "../i18n.js";
import { go, page, progressBar, showError, statusBadge, visibilityLabel } from "../ui.js";

export const STATUSES = ["queued", "importing", "active", "killed"];
export const VISIBILITIES = ["private", "shared", "public", "community"];
const SORTS = ["created_at:desc", "created_at:asc", "name:asc", "name:desc", "size:desc", "size:asc", "updated_at:desc"];
const LIMITS = ["10", "20", "50", "100"];
const FILTERS = ["name", "status", "visibility", "sort", "limit"];
const POLL_MS = 1000;
const SETTLED = new Set(["active", "killed"]);

// Markers seen per filter set: page N starts after markers[N - 1] (page 1 has none).
const markers = new Map();

function readState(hash) {
  const params = new URLSearchParams(hash.split("?")[1] ?? "");
  const state = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ""]));
  state.sort ||= SORTS[0];
  state.limit = LIMITS.includes(state.limit) ? state.limit : "20";
  state.page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  state.marker = params.get("marker") ?? "";
  return state;
}

function filterKey(state) {
  return FILTERS.map((name) => state[name]).join("\u0000");
}

function hashOf(state, pageNumber, marker) {
  const params = new URLSearchParams();
  for (const name of FILTERS) if (state[name]) params.set(name, state[name]);
  if (pageNumber > 1 && marker) {
    params.set("page", String(pageNumber));
    params.set("marker", marker);
  }
  const text = params.toString();
  return `#/images${text ? `?${text}` : ""}`;
}

function filterForm(state) {
  const name = h("input", { name: "name", value: state.name, type: "search", autocomplete: "off" });
  const any = ["", t("list.any")];
  const status = select("status", [any, ...STATUSES.map((s) => [s, t(`status.${s}`)])], state.status);
  const visibility = select("visibility", [any, ...VISIBILITIES.map((v) => [v, visibilityLabel(v)])], state.visibility);
  const sort = select("sort", SORTS.map((s) => [s, t(`sort.${s}`)]), state.sort);
  const limit = select("limit", LIMITS.map((n) => [n, n]), state.limit);
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": t("list.filters") },
    field(t("list.name"), name),
    field(t("list.status"), status),
    field(t("list.visibility"), visibility),
    field(t("list.sort"), sort),
    field(t("list.limit"), limit),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit" }, t("list.apply")),
      h("a", { href: "#/images", class: "button secondary" }, t("list.reset")),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = { name: name.value.trim(), status: status.value, visibility: visibility.value, sort: sort.value, limit: limit.value };
    location.hash = hashOf(next, 1, "");
  });
  return form;
}

function imageRow(image) {
  const statusCell = h("td", { class: "status-cell", "data-label": t("col.status") }, statusBadge(image.status));
  const sizeCell = h("td", { class: "num", "data-label": t("col.size") }, humanBytes(image.size));
  const virtualCell = h("td", { class: "num", "data-label": t("col.virtual_size") }, humanBytes(image.virtual_size));
  // data-label names each cell where the table becomes cards (a narrow screen, console.css).
  const row = h(
    "tr",
    { "data-image-id": image.id },
    h("th", { scope: "row" }, h("a", { href: `#/images/${image.id}` }, image.name)),
    statusCell,
    h("td", { "data-label": t("col.visibility") }, visibilityLabel(image.visibility)),
    sizeCell,
    virtualCell,
    h("td", { "data-label": t("col.os") }, image.os_distro ?? t("none")),
    h("td", { "data-label": t("col.created") }, humanDate(image.created_at)),
  );
  return { row, image, statusCell, sizeCell, virtualCell };
}

function imageTable(rows) {
  const columns = ["col.name", "col.status", "col.visibility", "col.size", "col.virtual_size", "col.os", "col.created"];
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": t("list.title"), tabindex: "0" },
    h(
      "table",
      { id: "image-table", class: "cards" },
      h("thead", {}, h("tr", {}, columns.map((key) => h("th", { scope: "col" }, t(key))))),
      h("tbody", {}, rows.map((r) => r.row)),
    ),
  );
}

function pager(state, images) {
  const key = filterKey(state);
  const seen = markers.get(key) ?? [];
  markers.set(key, seen);
  seen[state.page - 1] = state.marker;
  const prev = h("button", { type: "button", class: "secondary", disabled: state.page === 1 }, t("list.prev"));
  const full = images.length === Number(state.limit);
  const next = h("button", { type: "button", class: "secondary", disabled: !full }, t("list.next"));
  prev.addEventListener("click", () => {
    const target = state.page - 1;
    location.hash = hashOf(state, target, seen[target - 1] ?? "");
  });
  next.addEventListener("click", () => {
    location.hash = hashOf(state, state.page + 1, images.at(-1).id);
  });
  return h("nav", { class: "pager", "aria-label": t("list.page", { page: state.page }) }, prev, h("span", {}, t("list.page", { page: state.page })), next);
}

// Live progress for the caller's own images that are still moving; stops when the view is left.
async function follow(api, rows, live) {
  let moving = rows.filter((r) => !SETTLED.has(r.image.status));
  for (const r of moving) {
    r.progress = progressBar(r.image.name);
    r.statusCell.append(r.progress);
  }
  while (live.active && moving.length) {
    await sleep(POLL_MS);
    const still = [];
    for (const r of moving) {
      if (!live.active) return;
      if (!(await refreshRow(api, r))) still.push(r);
    }
    moving = still;
  }
}

async function refreshRow(api, r) {
  let job = null;
  try {
    job = await api.get(`/v1/images/${r.image.id}/import`);
    r.progress.update(job.bytes_read, job.bytes_total);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  if (job && job.status !== "succeeded" && job.status !== "failed") return false;
  const image = await api.get(`/v1/images/${r.image.id}`);
  r.image = image;
  r.statusCell.replaceChildren(statusBadge(image.status));
  r.sizeCell.textContent = humanBytes(image.size);
  r.virtualCell.textContent = humanBytes(image.virtual_size);
  // An image waiting for an upload that never began has no job: nothing to follow.
  return SETTLED.has(image.status) || job === null;
}

export async function listView({ api, credentials, live, hash }) {
  const state = readState(hash);
  const results = h("div", { class: "results", "aria-live": "polite", "aria-busy": "true" }, h("p", {}, t("loading")));
  const create = h("button", { type: "button", id: "create-button", onclick: () => go("#/create") }, t("list.create"));
  page(t("list.title"), h("div", { class: "actions page-actions" }, create), filterForm(state), results);
  const query = { limit: state.limit, sort: state.sort, name: state.name, status: state.status, visibility: state.visibility, marker: state.marker };
  const { images } = await api.get("/v1/images", query);
  if (!live.active) return;
  const rows = images.map(imageRow);
  results.setAttribute("aria-busy", "false");
  results.replaceChildren(
    images.length ? imageTable(rows) : h("p", { class: "empty" }, t("list.empty")),
    h("p", { class: "count" }, t("list.count", { count: images.length })),
    pager(state, images),
  );
  const mine = rows.filter((r) => r.image.owner === credentials.accountId);
  follow(api, mine, live).catch(showError);
}
