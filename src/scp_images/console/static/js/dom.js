// Building the page from elements and text nodes only: tenant-controlled text (image names, error
// details) is never parsed as HTML.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "value" || name === "checked") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function byId(id) {
  return document.getElementById(id);
}

let uniqueCounter = 0;
export function uid(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

// A labelled form control: <div class="field"><label for=…>…</label>control hint error</div>. The error
// line is empty until setFieldError fills it; the control names both lines in aria-describedby.
export function field(label, control, hint) {
  control.id ||= uid("field");
  const described = [];
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "hint", id: `${control.id}-hint` }, hint);
    described.push(hintEl.id);
  }
  const errorEl = h("p", { class: "field-error", id: `${control.id}-error`, hidden: true });
  described.push(errorEl.id);
  control.setAttribute("aria-describedby", described.join(" "));
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl, errorEl);
}

// Marks `control` invalid with `text` next to it (or clears it when text is empty).
export function setFieldError(control, text) {
  const errorEl = document.getElementById(`${control.id}-error`);
  if (!errorEl) return false;
  errorEl.textContent = text || "";
  errorEl.hidden = !text;
  if (text) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
  return true;
}

export function clearFieldErrors(root) {
  for (const control of root.querySelectorAll("[aria-invalid]")) setFieldError(control, "");
}

export function select(name, options, selected) {
  return h(
    "select",
    { name },
    options.map(([value, label]) => h("option", { value, selected: value === selected }, label)),
  );
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
