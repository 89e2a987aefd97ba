// API errors as a tenant reads them: at the field they belong to, in the console's language, and never
// naming an operator's setting (SCP_IMAGES_…): that is the operator's vocabulary, and a tenant cannot act
// on it. The top banner is only for errors that belong to no field.
import { clearFieldErrors, setFieldError } from "./dom.js";
import { t } from "./i18n.js";

const SETTING = /\bSCP_IMAGES_[A-Z0-9_]+/;

// An error code's console text, when the console has one.
function codeText(code) {
  const key = `code.${code}`;
  const text = t(key);
  return text === key ? null : text;
}

// The error's detail, unless it names a setting: then the console's own words for its code.
export function tenantDetail(error) {
  const detail = error?.detail ?? "";
  if (!SETTING.test(detail)) return detail;
  return codeText(error.code) ?? t("error.operator");
}

// A failure reason the server recorded (an import's), shown the same way.
export function tenantReason(reason) {
  return reason && SETTING.test(reason) ? t("error.operator.reason") : reason;
}

// Codes that always belong to one field of the form that sent them.
const CODE_FIELDS = {
  "virtualserver.image.ImportSourceRejected": "url",
  "virtualserver.account.NotFound": "member_id",
};

// The field (one of `names`) an API error is about, or null.
export function fieldOf(error, names) {
  if (error?.code === "virtualserver.request.Invalid") {
    // "The request is invalid: name: …": the field name as the API spells it, before a colon.
    for (const name of names) {
      if (new RegExp(`(?:^|[\\s(:'"])${name}['"]?:`).test(error.detail ?? "")) return name;
    }
    return null;
  }
  const name = CODE_FIELDS[error?.code];
  return name && names.includes(name) ? name : null;
}

// The text shown at a field: the console's rule in words for a refused value, else the server's detail.
function fieldText(error, name) {
  if (error.code === "virtualserver.request.Invalid") {
    const rule = t(`rule.${name}`);
    if (rule !== `rule.${name}`) return rule;
  }
  return tenantDetail(error);
}

// Show `error` at its field among `controls` ({api field name: control}); returns false when it belongs
// to none (the caller shows it elsewhere).
export function showAtField(error, controls, root) {
  if (root) clearFieldErrors(root);
  const name = fieldOf(error, Object.keys(controls));
  if (!name) return false;
  const control = controls[name];
  setFieldError(control, fieldText(error, name));
  control.focus();
  return true;
}

// The console's own checks, before anything is sent: the same rules the API applies, in words.
const NAME = /^[A-Za-z0-9 _-]{1,255}$/;

export function checkName(value) {
  return NAME.test(value) ? "" : t("rule.name");
}

export function checkCount(value) {
  return /^\d+$/.test(String(value).trim()) ? "" : t("rule.count");
}
