// SCP request signing, as SCP clients do it (see scp_images/signing.py):
// Base64(HMAC-SHA256(secret, METHOD + URL + timestamp + access key + account id + "Openapi")).
// The URL is exactly the one sent, query included. Only the signature leaves the browser.

export const CLIENT_TYPE = "Openapi";
const encoder = new TextEncoder();
const keys = new Map(); // secret -> CryptoKey (not extractable)

async function hmacKey(secret) {
  let key = keys.get(secret);
  if (!key) {
    key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    keys.clear();
    keys.set(secret, key);
  }
  return key;
}

function base64(buffer) {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export async function computeSignature(method, url, timestamp, accessKey, secretKey, accountId = "") {
  const message = `${method.toUpperCase()}${url}${timestamp}${accessKey}${accountId}${CLIENT_TYPE}`;
  const digest = await crypto.subtle.sign("HMAC", await hmacKey(secretKey), encoder.encode(message));
  return base64(digest);
}

export async function signedHeaders(method, url, credentials, timestamp = String(Date.now())) {
  const { accessKey, secretKey, accountId } = credentials;
  return {
    "Scp-Accesskey": accessKey,
    "Scp-Signature": await computeSignature(method, url, timestamp, accessKey, secretKey, accountId),
    "Scp-Timestamp": timestamp,
    "Scp-ClientType": CLIENT_TYPE,
    "Scp-AccountId": accountId,
  };
}

export function forgetKeys() {
  keys.clear();
}

export function canSign() {
  return window.isSecureContext && typeof crypto !== "undefined" && Boolean(crypto.subtle);
}
