// One image: every field Show Image 1.3 returns, the import and its failure reason, download, change,
// delete and sharing. While the image is queued or importing the page follows it until it settles.
import { ApiError } from "../api.js";
import { field, h, sleep } from "../dom.js";
import { humanBytes, humanDate } from "../format.js";
import { fieldLabel, t } from "../i18n.js";
import {
  attempt,
  confirmDialog,
  go,
  keepFocusOnNextRender,
  notify,
  page,
  progressBar,
  showError,
  statusBadge,
  visibilityLabel,
} from "../ui.js";

const POLL_MS = 1000;
const SETTLED = new Set(["active", "killed"]);
const BYTES = new Set(["size", "virtual_size"]);
const TIMES = new Set(["created_at", "updated_at"]);

function fieldValue(name, value) {
  if (value === null || value === undefined) return t("none");
  if (name === "status") return statusBadge(value);
  if (name === "visibility") return visibilityLabel(value);
  if (BYTES.has(name)) return `${humanBytes(value)} (${Number(value).toLocaleString()} B)`;
  if (TIMES.has(name)) return h("time", { datetime: value }, humanDate(value));
  if (typeof value === "boolean") return value ? t("yes") : t("no");
  if (typeof value === "object") return h("code", {}, JSON.stringify(value));
  return String(value);
}

function properties(image) {
  return h(
    "section",
    { "aria-labelledby": "properties-title" },
    h("h2", { id: "properties-title" }, t("detail.properties")),
    h(
      "dl",
      { class: "properties", id: "properties" },
      Object.entries(image).map(([name, value]) => [
        h("dt", { "data-field": name }, fieldLabel(name), " ", h("code", { class: "field-name" }, name)),
        h("dd", { "data-field": name }, fieldValue(name, value)),
      ]),
    ),
  );
}

function importSection(image, job) {
  const rows = [];
  if (job) {
    const progress = progressBar(image.name);
    // A finished job's total is what it read, even when the size was not known while it ran.
    const total = job.status === "succeeded" ? job.bytes_read : job.bytes_total;
    progress.update(job.bytes_read, total);
    rows.push(
      [t("detail.import.status"), h("span", { id: "import-status", "data-status": job.status }, t(`job.${job.status}`))],
      [t("detail.import.url"), job.url ? h("code", {}, job.url) : t("detail.import.upload")],
      [t("detail.import.read"), job.status === "failed" ? humanBytes(job.bytes_read) : progress],
      [t("detail.import.started"), humanDate(job.started_at)],
      [t("detail.import.finished"), humanDate(job.finished_at)],
    );
    if (job.reason) rows.push([t("detail.import.reason"), h("span", { id: "import-reason", class: "reason" }, job.reason)]);
  }
  return h(
    "section",
    { "aria-labelledby": "import-title", id: "import" },
    h("h2", { id: "import-title" }, t("detail.import")),
    job ? h("dl", { class: "properties" }, rows.map(([dt, dd]) => [h("dt", {}, dt), h("dd", {}, dd)])) : h("p", {}, t("detail.no.import")),
  );
}

async function loadJob(api, image) {
  try {
    return await api.get(`/v1/images/${image.id}/import`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

function changeForm(ctx, image) {
  const minDisk = h("input", { name: "min_disk", type: "number", min: "0", step: "1", value: String(image.min_disk), required: true });
  const minRam = h("input", { name: "min_ram", type: "number", min: "0", step: "1", value: String(image.min_ram), required: true });
  const protectedBox = h("input", { name: "protected", type: "checkbox", checked: image.protected, id: "protected" });
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "change-title" },
    h("h2", { id: "change-title" }, t("detail.change")),
    h("div", { class: "row" }, field(t("detail.min_disk"), minDisk), field(t("detail.min_ram"), minRam)),
    h("div", { class: "check" }, protectedBox, h("label", { for: "protected" }, t("detail.protected"))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("detail.save"))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { min_disk: Number(minDisk.value), min_ram: Number(minRam.value), protected: protectedBox.checked };
    const updated = await attempt(() => ctx.api.request("PUT", `/v1/images/${image.id}`, { body }));
    if (updated) rerender(ctx, t("detail.saved", { name: updated.name }));
  });
  return form;
}

async function download(ctx, image) {
  const link = await ctx.api.request("POST", `/v1/images/${image.id}/download-link`);
  // The link is on this server; open it on the origin this page came from (behind a TLS proxy without
  // SCP_IMAGES_PUBLIC_URLS the server may name itself http://…, which a secure page may not download from).
  const target = new URL(link.url);
  const href = `${location.origin}${target.pathname}${target.search}`;
  // The browser streams the file to disk itself (Content-Disposition: attachment): no bytes pass through
  // this page, and redirects to an object store are followed like any navigation.
  const anchor = h("a", { href, download: "", hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  notify(t("detail.download.started", { name: image.name, expires: humanDate(link.expires_at) }));
}

async function remove(ctx, image) {
  const body = [t("delete.body", { name: image.name, id: image.id })];
  if (image.protected) body.push(t("delete.protected"));
  const yes = await confirmDialog({ title: t("delete.title"), body, confirmLabel: t("delete.confirm", { name: image.name }) });
  if (!yes) return;
  const done = await attempt(async () => {
    await ctx.api.request("DELETE", `/v1/images/${image.id}`);
    return true;
  });
  if (done) go("#/images", t("delete.done", { name: image.name }));
}

function actions(ctx, image, owner) {
  const buttons = [];
  if (image.status === "active") {
    buttons.push(h("button", { type: "button", onclick: () => download(ctx, image).catch(showError) }, t("detail.download")));
  }
  if (owner) {
    buttons.push(h("button", { type: "button", class: "danger", onclick: () => remove(ctx, image) }, t("detail.delete")));
  }
  const notes = [];
  if (owner && image.protected) notes.push(h("p", { class: "note", id: "protected-note" }, t("detail.protected.note")));
  if (!owner) notes.push(h("p", { class: "note" }, t("detail.not.owner", { owner: image.owner_account_name ?? image.owner })));
  return [h("div", { class: "actions toolbar" }, buttons), notes];
}

async function sharing(ctx, image) {
  const section = h("section", { class: "panel", "aria-labelledby": "sharing-title", id: "sharing" }, h("h2", { id: "sharing-title" }, t("members.title")));
  if (image.visibility === "public" || image.visibility === "community") {
    section.append(h("p", {}, t("members.public")));
    return section;
  }
  if (image.visibility !== "shared") {
    section.append(h("p", {}, t("members.private")));
    if (image.status === "active") {
      const share = h("button", { type: "button" }, t("members.share"));
      share.addEventListener("click", async () => {
        const ok = await attempt(async () => (await ctx.api.request("POST", `/v1/images/${image.id}/share`)) ?? true);
        if (ok) rerender(ctx, t("members.shared", { name: image.name }));
      });
      section.append(h("div", { class: "actions" }, share));
    }
    return section;
  }
  const { members } = await ctx.api.get(`/v1/images/${image.id}/members`);
  section.append(memberTable(ctx, image, members), addMemberForm(ctx, image));
  return section;
}

function memberTable(ctx, image, members) {
  if (!members.length) return h("p", {}, t("members.empty"));
  const row = (m) => {
    const removeButton = h("button", { type: "button", class: "secondary" }, t("members.remove", { member: m.member_id }));
    removeButton.addEventListener("click", async () => {
      const ok = await attempt(async () => (await ctx.api.request("DELETE", `/v1/images/${image.id}/members/${m.member_id}`)) ?? true);
      if (ok) rerender(ctx, t("members.removed", { member: m.member_id }));
    });
    return h(
      "tr",
      { "data-member-id": m.member_id },
      h("th", { scope: "row" }, h("code", {}, m.member_id)),
      h("td", {}, statusBadge(m.status)),
      h("td", {}, humanDate(m.updated_at)),
      h("td", {}, removeButton),
    );
  };
  const head = ["members.col.member", "members.col.status", "members.col.updated", "col.actions"];
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": t("members.title"), tabindex: "0" },
    h("table", { id: "member-table" }, h("thead", {}, h("tr", {}, head.map((k) => h("th", { scope: "col" }, t(k))))), h("tbody", {}, members.map(row))),
  );
}

function addMemberForm(ctx, image) {
  const account = h("input", { name: "member_id", required: true, autocomplete: "off", spellcheck: "false" });
  const form = h("form", { class: "inline" }, field(t("members.account"), account), h("div", { class: "actions" }, h("button", { type: "submit" }, t("members.add"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const member = account.value.trim();
    const ok = await attempt(() => ctx.api.request("POST", `/v1/images/${image.id}/members`, { body: { member_id: member } }));
    if (ok) rerender(ctx, t("members.added", { member }));
  });
  return form;
}

function rerender(ctx, notice) {
  keepFocusOnNextRender();
  detailView(ctx)
    .then(() => notice && notify(notice))
    .catch(showError);
}

// Poll until the image is active or killed; then say so and draw the page again.
async function follow(ctx, image, owner) {
  const status = document.getElementById("following");
  while (ctx.live.active) {
    await sleep(POLL_MS);
    if (!ctx.live.active) return;
    const current = await ctx.api.get(`/v1/images/${image.id}`);
    const job = owner ? await loadJob(ctx.api, current) : null;
    if (!ctx.live.active) return;
    document.getElementById("import")?.replaceWith(importSection(current, job));
    document.getElementById("header-status")?.replaceChildren(statusBadge(current.status));
    if (SETTLED.has(current.status)) {
      status?.remove();
      const reason = job?.reason ?? "";
      const notice =
        current.status === "active" ? t("detail.now.active", { name: current.name }) : t("detail.now.killed", { name: current.name, reason });
      rerender(ctx, notice);
      return;
    }
  }
}

export async function detailView(ctx) {
  const [id] = ctx.params;
  const image = await ctx.api.get(`/v1/images/${id}`);
  const owner = image.owner === ctx.credentials.accountId;
  const job = owner ? await loadJob(ctx.api, image) : null;
  const shared = owner ? await sharing(ctx, image) : null;
  if (!ctx.live.active) return;
  const moving = !SETTLED.has(image.status) && (job !== null || !owner);
  page(
    image.name,
    h("p", { class: "back" }, h("a", { href: "#/images" }, t("detail.back"))),
    h("p", { class: "status-line", id: "header-status" }, statusBadge(image.status)),
    moving ? h("p", { id: "following", class: "note", role: "status" }, t("detail.following")) : null,
    actions(ctx, image, owner),
    owner ? importSection(image, job) : null,
    owner ? changeForm(ctx, image) : null,
    shared,
    properties(image),
  );
  if (moving) follow(ctx, image, owner).catch(showError);
}
