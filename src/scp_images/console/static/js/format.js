// Sizes in human units and dates in the chosen language.
import { language, t } from "./i18n.js";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function humanBytes(bytes) {
  if (bytes === null || bytes === undefined) return t("none");
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toLocaleString(language(), { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${UNITS[unit]}`;
}

export function humanDate(text) {
  if (!text) return t("none");
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return String(text);
  return new Intl.DateTimeFormat(language(), { dateStyle: "medium", timeStyle: "short" }).format(date);
}

export function percent(read, total) {
  if (!total) return 0;
  return Math.min(100, Math.floor((read * 100) / total));
}
