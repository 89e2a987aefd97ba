// The console's entry point: language, sign-in state and a small hash router (#/images, #/images/ID,
// #/create, #/pending). Each view renders into <main> and gets a `live` flag that turns false when the
// user leaves it, which stops its polling.
import { Api, ApiError } from "./api.js";
import { byId, field, h } from "./dom.js";
import { LANGUAGES, initLanguage, language, setLanguage, t } from "./i18n.js";
import * as session from "./session.js";
import { canSign } from "./signing.js";
import {
  clearError,
  clearNotice,
  closeDialogs,
  keepFocusOnNextRender,
  notify,
  page,
  showError,
  takePendingNotice,
} from "./ui.js";
import { createView } from "./views/create.js";
import { detailView } from "./views/detail.js";
import { listView } from "./views/images.js";
import { pendingView } from "./views/pending.js";

const ROUTES = [
  [/^#\/images\/([0-9a-fA-F-]{36})$/, detailView],
  [/^#\/images(?:\?.*)?$/, listView],
  [/^#\/create$/, createView],
  [/^#\/pending$/, pendingView],
];

let live = { active: false };

// What this server can do (GET /console/config.json, unsigned): which create options work. Read once.
let config = null;
function serverConfig() {
  config ??= fetch(`${location.origin}/console/config.json`, { cache: "no-store", credentials: "omit" })
    .then((response) => (response.ok ? response.json() : {}))
    .catch(() => ({}))
    .then((body) => ({ objectStorage: body.object_storage === true, urlImports: body.url_imports !== false }));
  return config;
}

// `template` with {cmd} drawn as code.
function withCommand(template, command) {
  const [before, after = ""] = template.split("{cmd}");
  return [before, h("code", {}, command), after];
}

function renderChrome(credentials) {
  byId("brand").textContent = t("app.title");
  byId("skip").textContent = t("skip");
  byId("language-label").textContent = t("language");
  const nav = byId("nav");
  nav.setAttribute("aria-label", t("nav.label"));
  const here = location.hash.split("?")[0] || "#/images";
  nav.replaceChildren(
    h(
      "ul",
      {},
      [
        ["#/images", t("nav.images")],
        ["#/create", t("nav.create")],
        ["#/pending", t("nav.pending")],
      ].map(([href, label]) =>
        h("li", {}, h("a", { href, "aria-current": here === href ? "page" : undefined }, label)),
      ),
    ),
  );
  nav.hidden = !credentials;
  const who = byId("who");
  who.hidden = !credentials;
  who.textContent = credentials ? t("signed.in.as", { account: credentials.accountId }) : "";
  const signOut = byId("sign-out");
  signOut.hidden = !credentials;
  signOut.textContent = t("signout");
}

function insecureView() {
  page(
    t("insecure.title"),
    h("div", { class: "panel warning", id: "insecure" }, h("p", {}, t("insecure.body")), h("p", {}, t("insecure.fix"))),
  );
}

function signInView() {
  const access = h("input", { name: "access_key", autocomplete: "username", required: true, spellcheck: "false" });
  const secret = h("input", { name: "secret_key", type: "password", autocomplete: "current-password", required: true });
  const account = h("input", { name: "account_id", required: true, spellcheck: "false", autocomplete: "off" });
  const submit = h("button", { type: "submit" }, t("signin.submit"));
  const form = h(
    "form",
    { class: "panel narrow", method: "post", novalidate: false },
    h("p", {}, t("signin.intro")),
    field(t("signin.access"), access),
    field(t("signin.secret"), secret),
    field(t("signin.account"), account),
    h("div", { class: "actions" }, submit),
  );
  const help = h(
    "section",
    { class: "panel narrow", id: "signin-help", "aria-labelledby": "signin-help-title" },
    h("h2", { id: "signin-help-title" }, t("signin.where")),
    h(
      "ul",
      {},
      h("li", {}, t("signin.where.operator")),
      h("li", {}, withCommand(t("signin.where.local"), "scp-images serve")),
      h("li", {}, withCommand(t("signin.where.make"), "scp-images admin key create --account ACCOUNT_ID --user NAME")),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const credentials = {
      accessKey: access.value.trim(),
      secretKey: secret.value,
      accountId: account.value.trim(),
    };
    submit.disabled = true;
    notify(t("signin.checking"));
    try {
      // One signed call proves the key, the secret and the account id before anything is kept.
      await new Api(credentials).get("/v1/images", { limit: 1 });
      session.save(credentials);
      clearError();
      clearNotice();
      if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/images");
      render();
    } catch (error) {
      clearNotice();
      showError(error);
      submit.disabled = false;
    }
  });
  page(t("signin.title"), form, help);
}

export function render() {
  closeDialogs();
  live.active = false;
  live = { active: true };
  const credentials = canSign() ? session.load() : null;
  renderChrome(credentials);
  if (!canSign()) return insecureView();
  if (!credentials) return signInView();
  const hash = location.hash || "#/images";
  for (const [pattern, view] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      const context = { api: new Api(credentials), credentials, live, params: match.slice(1), hash, config: serverConfig };
      return view(context).catch((error) => showError(error));
    }
  }
  history.replaceState(null, "", "#/images");
  return render();
}

function boot() {
  initLanguage();
  serverConfig(); // read early: the create page needs it at once
  const chooser = byId("language");
  chooser.replaceChildren(
    ...Object.entries(LANGUAGES).map(([value, label]) =>
      h("option", { value, lang: value.slice(0, 2), selected: value === language() }, label),
    ),
  );
  chooser.addEventListener("change", () => {
    setLanguage(chooser.value);
    clearError();
    keepFocusOnNextRender();
    render();
  });
  byId("sign-out").addEventListener("click", () => {
    session.clear();
    clearError();
    history.replaceState(null, "", location.pathname);
    render();
    notify(t("signed.out"));
  });
  window.addEventListener("hashchange", () => {
    // In-page anchors such as the skip link are not routes.
    if (location.hash === "" || location.hash.startsWith("#/")) {
      const notice = takePendingNotice();
      clearNotice();
      clearError();
      render();
      if (notice) notify(notice);
    }
  });
  // Back and Forward between entries of the same hash fire popstate alone: a dialog never outlives its page.
  window.addEventListener("popstate", closeDialogs);
  window.addEventListener("unhandledrejection", (event) => showError(event.reason));
  window.addEventListener("error", (event) => showError(new ApiError({ detail: t("error.unexpected", { message: event.message }) })));
  render();
}

boot();
