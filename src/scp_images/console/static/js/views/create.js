// Create an image from an object-storage URL, or by uploading a local disk with a real, cancellable
// progress bar (POST /v1/images?source=upload, then PUT /v2/images/{id}/file[?input_format=raw]).
// Afterwards the detail page follows the image (a converted disk's phases) until it is active or killed.
import { Cancelled } from "../api.js";
import { clearFieldErrors, field, h, select, setFieldError } from "../dom.js";
import { checkCount, checkName, showAtField } from "../errors.js";
import { t } from "../i18n.js";
import { clearError, go, notify, page, progressBar, showError } from "../ui.js";

const OS_DISTROS = ["ubuntu", "rocky", "alma", "centos", "rhel", "oracle", "sles", "windows"];

// Upload is the default unless the server has object storage; URL imports are offered only where some
// can work (object storage, or https:// hosts the operator allowed), with a line that says which.
function sourceChooser(config, initial, onChange) {
  const option = (value, label, checked, disabled, note) => {
    const id = `source-${value}`;
    const input = h("input", { type: "radio", name: "source", value, id, checked, disabled, "aria-describedby": note ? `${id}-note` : undefined });
    input.addEventListener("change", () => onChange(value));
    return h(
      "div",
      { class: "choice" },
      h("div", { class: "check" }, input, h("label", { for: id }, label)),
      note ? h("p", { class: "hint", id: `${id}-note` }, note) : null,
    );
  };
  let urlNote = null;
  if (!config.urlImports) urlNote = t("create.no.storage");
  else if (!config.objectStorage) urlNote = t("create.url.limited");
  return h(
    "fieldset",
    {},
    h("legend", {}, t("create.source")),
    option("upload", t("create.source.upload"), initial === "upload", false, null),
    option("url", t("create.source.url"), initial === "url", !config.urlImports, urlNote),
  );
}

function numberInput(name) {
  return h("input", { name, type: "number", min: "0", step: "1", value: "0", inputmode: "numeric" });
}

// What the file picker offers: every disk the server takes. The server reads the format from the bytes,
// never from the name; a raw disk is the one that must be declared (it has no header to recognise).
const DISK_FILES = ".qcow2,.vmdk,.ova,.vhdx,.vhd,.vdi,.raw,.img,application/octet-stream";

async function uploadInto(ctx, image, file, area, inputFormat) {
  const bar = progressBar(image.name, "upload-progress-bar");
  bar.id = "upload-progress";
  const cancel = h("button", { type: "button", class: "secondary" }, t("create.upload.cancel"));
  area.replaceChildren(h("h2", {}, t("create.upload.progress")), h("p", {}, t("create.uploading", { name: image.name })), bar, h("div", { class: "actions" }, cancel));
  area.hidden = false;
  bar.update(0, file.size);
  const query = { input_format: inputFormat };
  const transfer = ctx.api.upload(`/v2/images/${image.id}/file`, file, (sent, total) => bar.update(sent, total), query);
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
  // A disk in another format is converted now: the detail page follows its phases until it is active.
  return go(`#/images/${image.id}`, t("create.created", { name: image.name }));
}

export async function createView(ctx) {
  const config = await ctx.config();
  if (!ctx.live.active) return;
  const name = h("input", { name: "name", maxlength: "255", autocomplete: "off", spellcheck: "false" });
  const os = select("os_distro", OS_DISTROS.map((d) => [d, d]), "ubuntu");
  const url = h("input", { name: "url", type: "text", maxlength: "255", autocomplete: "off", spellcheck: "false" });
  const file = h("input", { name: "file", type: "file", accept: DISK_FILES });
  const format = select("input_format", [["", t("create.format.detect")], ["raw", t("create.format.raw")]], "");
  const minDisk = numberInput("min_disk");
  const minRam = numberInput("min_ram");
  const visibility = select("visibility", [["private", t("vis.private")], ["shared", t("vis.shared")]], "private");
  const protectedBox = h("input", { type: "checkbox", name: "protected", id: "create-protected" });
  const urlField = field(t("create.url"), url, t("create.url.hint"));
  const fileField = h("div", {}, field(t("create.file"), file, t("create.file.hint")), field(t("create.format"), format, t("create.format.hint")));
  let source = config.objectStorage ? "url" : "upload";
  urlField.hidden = source !== "url";
  fileField.hidden = source !== "upload";
  const submit = h("button", { type: "submit" }, t("create.submit"));
  const area = h("section", { class: "panel", id: "upload", hidden: true, "aria-live": "polite" });
  const chooser = sourceChooser(config, source, (value) => {
    source = value;
    urlField.hidden = value !== "url";
    fileField.hidden = value !== "upload";
  });
  const form = h(
    "form",
    { class: "panel", id: "create-form", novalidate: true },
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
  const controls = { name, os_distro: os, url, min_disk: minDisk, min_ram: minRam, visibility, file };
  // The console's own checks first, each at its field in words; then the server's, mapped the same way.
  const check = () => {
    clearFieldErrors(form);
    const problems = [
      [name, checkName(name.value)],
      [minDisk, checkCount(minDisk.value) && t("rule.min_disk")],
      [minRam, checkCount(minRam.value) && t("rule.min_ram")],
      [url, source === "url" && !url.value.trim() && t("rule.url")],
      [file, source === "upload" && !file.files?.[0] && t("create.need.file")],
    ].filter(([, text]) => text);
    for (const [control, text] of problems) setFieldError(control, text);
    problems[0]?.[0].focus();
    return problems.length === 0;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    if (!check()) return;
    const body = {
      name: name.value,
      os_distro: os.value,
      min_disk: Number(minDisk.value),
      min_ram: Number(minRam.value),
      visibility: visibility.value,
      protected: protectedBox.checked,
    };
    const chosen = file.files?.[0];
    submit.disabled = true;
    try {
      if (source === "url") {
        const image = await ctx.api.request("POST", "/v1/images", { body: { ...body, url: url.value.trim() } });
        return go(`#/images/${image.id}`, t("create.created", { name: image.name }));
      }
      const image = await ctx.api.request("POST", "/v1/images", { query: { source: "upload" }, body });
      return await uploadInto(ctx, image, chosen, area, format.value || undefined);
    } catch (error) {
      return showAtField(error, controls, form) || showError(error);
    } finally {
      submit.disabled = false;
    }
  });
  page(t("create.title"), form, area);
}
