// The OpenWallet Foundation's SD-JWT libraries (@sd-jwt/sd-jwt-vc, @sd-jwt/jwt-status-list)
// both ways: verifying what jigap issues and presents, and issuing what jigap must verify.
import { digest, generateSalt } from '@sd-jwt/crypto-nodejs';
import { createHeaderAndPayload, StatusList } from '@sd-jwt/jwt-status-list';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { b64url, decodeJwtPart, jsonB64, main, newKey, outcome, publicJwk, signBytes, sriMatches, verifyBytes } from './common.mjs';

const algOf = (jwk) => (jwk.kty === 'OKP' ? 'EdDSA' : 'ES256');
const check = (jwk) => (data, sig) => verifyBytes(algOf(jwk), jwk, Buffer.from(data), Buffer.from(sig, 'base64url'));
const signerOf = (key) => (data) => b64url(signBytes(key.alg, key.privateJwk, Buffer.from(data)));

// SD-JWT VC draft 12 §5: the issuer's keys at /.well-known/jwt-vc-issuer + the path of `iss`.
async function issuerKeys(iss) {
  const url = new URL(iss);
  const response = await fetch(`${url.origin}/.well-known/jwt-vc-issuer${url.pathname.replace(/\/$/, '')}`);
  if (!response.ok) throw new Error(`JWT VC Issuer Metadata: ${response.status}`);
  const metadata = await response.json();
  if (metadata.issuer !== iss) throw new Error('JWT VC Issuer Metadata names another issuer'); // §5.3
  return metadata.jwks.keys;
}

// What an outside verifier configures: keys from the issuer's metadata, looked up by `kid`.
async function verifierFor(credential) {
  const keys = await issuerKeys(decodeJwtPart(credential.split('~')[0], 1).iss);
  return (data, sig) => {
    const kid = JSON.parse(Buffer.from(data.split('.')[0], 'base64url').toString()).kid;
    const jwk = keys.find((k) => k.kid === kid);
    return jwk ? check(jwk)(data, sig) : false;
  };
}

// Our `vct`s are URNs: the scheme's retrieval method (§6.3.3) maps one to a URL, and the
// library checks the document's shape; `vct#integrity` is checked as W3C SRI says.
function typeMetadataFetcher(base, fetched) {
  return async (vct, integrity) => {
    const response = await fetch(`${base}/type-metadata/${vct}`);
    if (!response.ok) throw new Error(`type metadata: ${response.status}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    fetched.integrity = integrity ?? null;
    fetched.integrityMatches = integrity ? sriMatches(integrity, bytes) : null;
    if (integrity && !fetched.integrityMatches) throw new Error('vct#integrity does not match');
    return JSON.parse(bytes.toString('utf8'));
  };
}

// Their library verifies our credentials (signature, status list, type metadata) and our
// presentations (KB-JWT), and presents our credential itself for us to verify.
async function verifyOurs(input) {
  const fetched = {};
  const holder = input.holder_private_jwk;
  const vc = new SDJwtVcInstance({
    hasher: digest,
    verifier: await verifierFor(input.credential),
    kbVerifier: (data, sig, payload) => check(payload.cnf.jwk)(data, sig),
    kbSigner: signerOf({ alg: algOf(holder), privateJwk: holder }),
    kbSignAlg: algOf(holder),
    loadTypeMetadataFormat: true,
    vctFetcher: typeMetadataFetcher(input.type_metadata_base, fetched),
  });
  const credential = await vc.verify(input.credential);
  const presentation = await outcome(
    vc.verify(input.our_presentation, { keyBindingNonce: input.nonce, requiredClaimKeys: input.disclosed }),
  );
  const revoked = await outcome(vc.verify(input.revoked_credential));
  const theirs = await vc.present(
    input.credential,
    Object.fromEntries(input.disclosed.map((name) => [name, true])),
    { kb: { payload: { iat: Math.floor(Date.now() / 1000), aud: input.aud, nonce: input.nonce } } },
  );
  return {
    payload: credential.payload,
    type_metadata: credential.typeMetadata?.mergedTypeMetadata ?? null,
    fetched,
    our_presentation: presentation.ok
      ? { ok: true, kb: presentation.value.kb?.payload ?? null, claims: presentation.value.payload }
      : { ok: false, error: presentation.error },
    revoked: revoked.ok ? { ok: true } : { ok: false, error: revoked.error },
    their_presentation: theirs,
  };
}

// Their library issues credentials of one of our types the ways SD-JWT VC allows, signs a
// status list, and presents each with a KB-JWT: for our verifier to judge.
async function issueTheirs(input) {
  const issuerKey = newKey('ES256');
  const holder = newKey(input.holder_alg ?? 'ES256');
  const kid = 'doc-signer-2026'; // a name, not the RFC 7638 thumbprint
  const now = Math.floor(Date.now() / 1000);
  const list = new StatusList(new Array(1024).fill(0), 2);
  list.setStatus(5, 1); // invalid
  const { header, payload } = createHeaderAndPayload(
    list,
    { iss: input.iss, sub: input.status_uri, iat: now, exp: now + 3600, ttl: 300 },
    { alg: 'ES256', typ: 'statuslist+jwt', kid },
  );
  const statusInput = `${jsonB64(header)}.${jsonB64(payload)}`;
  const statusList = `${statusInput}.${signerOf(issuerKey)(statusInput)}`;

  const vc = new SDJwtVcInstance({
    hasher: digest,
    hashAlg: 'sha-256',
    saltGenerator: generateSalt,
    signer: signerOf(issuerKey),
    signAlg: 'ES256',
    kbSigner: signerOf(holder),
    kbSignAlg: holder.alg,
  });
  const claims = input.claims;
  const frame = { _sd: Object.keys(claims) };
  const base = {
    iss: input.iss,
    vct: input.vct,
    cnf: { jwk: publicJwk(holder.privateJwk) },
    status: { status_list: { idx: 7, uri: input.status_uri } },
    ...claims,
  };
  const variants = {
    standard: [{ ...base, iat: now, exp: now + 86400 }, frame, { kid }],
    no_kid: [{ ...base, iat: now, exp: now + 86400 }, frame, {}],
    no_exp_no_iat: [{ ...base }, frame, { kid }],
    disclosed_iat: [{ ...base, iat: now }, { _sd: [...frame._sd, 'iat'] }, { kid }],
    revoked: [{ ...base, iat: now, exp: now + 86400, status: { status_list: { idx: 5, uri: input.status_uri } } }, frame, { kid }],
  };
  const presentations = {};
  for (const [name, [body, disclosureFrame, header]] of Object.entries(variants)) {
    const credential = await vc.issue(body, disclosureFrame, { header });
    const shown = Object.fromEntries([...input.disclosed, ...(name === 'disclosed_iat' ? ['iat'] : [])].map((n) => [n, true]));
    presentations[name] = await vc.present(credential, shown, {
      kb: { payload: { iat: now, aud: input.aud, nonce: input.nonce } },
    });
  }
  return {
    jwks: { keys: [{ ...publicJwk(issuerKey.privateJwk), kid, alg: 'ES256', use: 'sig' }] },
    status_list: statusList,
    presentations,
  };
}

main(async (input) => (input.mode === 'verify_ours' ? verifyOurs(input) : issueTheirs(input)));
