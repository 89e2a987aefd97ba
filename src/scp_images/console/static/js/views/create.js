// Create an image from an object-storage URL, or by uploading a local file with a real, cancellable
// progress bar (POST /v1/images?source=upload, then PUT /v2/images/{id}/file). Afterwards the detail
// page follows the image until it is active or killed.
import { Cancelled } from "../api.js";
import { field, h, select } from "../dom.js";
import { t } from "../i18n.js";
import { clearError, go, notify, page, progressBar, showError } from "../ui.js";

const OS_DISTROS = ["ubuntu", "rocky", "alma", "centos", "rhel", "oracle", "sles", "windows"];

function sourceChooser(onChange) {
  const option = (value, label, checked) => {
    const input = h("input", { type: "radio", name: "source", value, id: `source-${value}`, checked });
    input.addEventListener("change", () => onChange(value));
    return h("div", { class: "check" }, input, h("label", { for: `source-${value}` }, label));
  };
  return h(
    "fieldset",
    {},
    h("legend", {}, t("create.source")),
    option("url", t("create.source.url"), true),
    option("upload", t("create.source.upload"), false),
  );
}

function numberInput(name) {
  return h("input", { name, type: "number", min: "0", step: "1", value: "0", required: true });
}

async function uploadInto(ctx, image, file, area) {
  const bar = progressBar(image.name, "upload-progress-bar");
  bar.id = "upload-progress";
  const cancel = h("button", { type: "button", class: "secondary" }, t("create.upload.cancel"));
  area.replaceChildren(h("h2", {}, t("create.upload.progress")), h("p", {}, t("create.uploading", { name: image.name })), bar, h("div", { class: "actions" }, cancel));
  area.hidden = false;
  bar.update(0, file.size);
  const transfer = ctx.api.upload(`/v2/images/${image.id}/file`, file, (sent, total) => bar.update(sent, total));
  cancel.addEventListener("click", () => transfer.cancel());
  cancel.focus();
  try {
    await transfer.done;
  } catch (error) {
    if (!(error instanceof Cancelled)) {
      // The server kills an image whose data it refuses; the detail page shows why.
      showError(error);
      return go(`#/images/${image.id}`);
    }
    await ctx.api.request("DELETE", `/v1/images/${image.id}`).catch(showError);
    area.hidden = true;
    notify(t("create.upload.cancelled"));
    return null;
  }
  return go(`#/images/${image.id}`, t("create.created", { name: image.name }));
}

export async function createView(ctx) {
  const name = h("input", { name: "name", required: true, maxlength: "255", autocomplete: "off" });
  const os = select("os_distro", OS_DISTROS.map((d) => [d, d]), "ubuntu");
  const url = h("input", { name: "url", type: "text", maxlength: "255", autocomplete: "off", spellcheck: "false" });
  const file = h("input", { name: "file", type: "file", accept: ".qcow2,.img,application/octet-stream" });
  const minDisk = numberInput("min_disk");
  const minRam = numberInput("min_ram");
  const visibility = select("visibility", [["private", t("vis.private")], ["shared", t("vis.shared")]], "private");
  const protectedBox = h("input", { type: "checkbox", name: "protected", id: "create-protected" });
  const urlField = field(t("create.url"), url, t("create.url.hint"));
  const fileField = field(t("create.file"), file);
  fileField.hidden = true;
  const submit = h("button", { type: "submit" }, t("create.submit"));
  const area = h("section", { class: "panel", id: "upload", hidden: true, "aria-live": "polite" });
  let source = "url";
  const chooser = sourceChooser((value) => {
    source = value;
    urlField.hidden = value !== "url";
    fileField.hidden = value !== "upload";
  });
  const form = h(
    "form",
    { class: "panel", id: "create-form" },
    chooser,
    field(t("create.name"), name, t("create.name.hint")),
    field(t("create.os"), os),
    urlField,
    fileField,
    h("div", { class: "row" }, field(t("detail.min_disk"), minDisk), field(t("detail.min_ram"), minRam)),
    field(t("create.visibility"), visibility),
    h("div", { class: "check" }, protectedBox, h("label", { for: "create-protected" }, t("detail.protected"))),
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const body = {
      name: name.value,
      os_distro: os.value,
      min_disk: Number(minDisk.value),
      min_ram: Number(minRam.value),
      visibility: visibility.value,
      protected: protectedBox.checked,
    };
    const chosen = file.files?.[0];
    if (source === "upload" && !chosen) return showError({ code: "", detail: t("create.need.file") });
    submit.disabled = true;
    try {
      if (source === "url") {
        const image = await ctx.api.request("POST", "/v1/images", { body: { ...body, url: url.value.trim() } });
        return go(`#/images/${image.id}`, t("create.created", { name: image.name }));
      }
      const image = await ctx.api.request("POST", "/v1/images", { query: { source: "upload" }, body });
      return await uploadInto(ctx, image, chosen, area);
    } catch (error) {
      return showError(error);
    } finally {
      submit.disabled = false;
    }
  });
  page(t("create.title"), form, area);
}
