// Images other accounts shared with this one, waiting for an answer: accept or reject each.
import { h } from "../dom.js";
import { humanBytes, humanDate } from "../format.js";
import { t } from "../i18n.js";
import { attempt, notify, page, statusBadge } from "../ui.js";

function answerButton(ctx, image, row, status) {
  const label = t(status === "accepted" ? "pending.accept" : "pending.reject", { name: image.name });
  const button = h("button", { type: "button", class: status === "accepted" ? "" : "secondary", "aria-label": label }, label);
  button.addEventListener("click", async () => {
    const path = `/v1/images/${image.id}/members/${ctx.credentials.accountId}`;
    const ok = await attempt(() => ctx.api.request("PUT", path, { body: { status } }));
    if (!ok) return;
    row.remove();
    notify(t(status === "accepted" ? "pending.accepted" : "pending.rejected", { name: image.name }));
    document.querySelector("h1")?.focus();
  });
  return button;
}

function pendingRow(ctx, image) {
  const row = h("tr", { "data-image-id": image.id });
  row.append(
    h("th", { scope: "row" }, image.name),
    h("td", { "data-label": t("col.owner") }, image.owner_account_name ?? image.owner),
    h("td", { "data-label": t("col.status") }, statusBadge(image.status)),
    h("td", { class: "num", "data-label": t("col.size") }, humanBytes(image.size)),
    h("td", { "data-label": t("col.created") }, humanDate(image.created_at)),
    h("td", { class: "row-actions" }, answerButton(ctx, image, row, "accepted"), answerButton(ctx, image, row, "rejected")),
  );
  return row;
}

export async function pendingView(ctx) {
  const results = h("div", { "aria-busy": "true" }, h("p", {}, t("loading")));
  page(t("pending.title"), h("p", {}, t("pending.intro")), results);
  const { images } = await ctx.api.get("/v1/pending-images");
  if (!ctx.live.active) return;
  results.setAttribute("aria-busy", "false");
  if (!images.length) {
    results.replaceChildren(h("p", { class: "empty" }, t("pending.empty")));
    return;
  }
  const head = ["col.name", "col.owner", "col.status", "col.size", "col.created", "col.actions"];
  results.replaceChildren(
    h(
      "div",
      { class: "table-wrap", role: "region", "aria-label": t("pending.title"), tabindex: "0" },
      h(
        "table",
        { id: "pending-table", class: "cards" },
        h("thead", {}, h("tr", {}, head.map((k) => h("th", { scope: "col" }, t(k))))),
        h("tbody", {}, images.map((image) => pendingRow(ctx, image))),
      ),
    ),
  );
}
