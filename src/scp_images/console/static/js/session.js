// The signed-in key lives in sessionStorage: this tab only, gone when the tab closes or on sign-out.
import { forgetKeys } from "./signing.js";

const KEY = "scp-console-credentials";

export function load() {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
    return value && value.accessKey && value.secretKey && value.accountId ? value : null;
  } catch {
    return null;
  }
}

export function save(credentials) {
  sessionStorage.setItem(KEY, JSON.stringify(credentials));
}

export function clear() {
  sessionStorage.removeItem(KEY);
  forgetKeys();
}
