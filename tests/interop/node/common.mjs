// What every interop script shares: JSON in on stdin, JSON out on stdout, and the crypto
// callbacks the libraries ask their user for (node:crypto, nothing of jigap's).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';

export function b64url(bytes) {
  return Buffer.from(bytes).toString('base64url');
}

export function jsonB64(value) {
  return b64url(Buffer.from(JSON.stringify(value)));
}

export function decodeJwtPart(token, index) {
  return JSON.parse(Buffer.from(token.split('.')[index], 'base64url').toString('utf8'));
}

export function newKey(alg = 'ES256') {
  const { privateKey } =
    alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { alg, privateJwk: privateKey.export({ format: 'jwk' }) };
}

export function publicJwk(privateJwk) {
  const { d, ...rest } = privateJwk;
  return rest;
}

export function signBytes(alg, privateJwk, data) {
  const key = createPrivateKey({ key: privateJwk, format: 'jwk' });
  return alg === 'EdDSA' ? sign(null, data, key) : sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

export function verifyBytes(alg, jwk, data, signature) {
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  return alg === 'EdDSA'
    ? verify(null, data, key, signature)
    : verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
}

export function signJwt(alg, privateJwk, header, payload) {
  const input = `${jsonB64(header)}.${jsonB64(payload)}`;
  return `${input}.${b64url(signBytes(alg, privateJwk, Buffer.from(input)))}`;
}

export const hash = (data, alg) =>
  new Uint8Array(createHash(alg.replace('-', '').toLowerCase()).update(Buffer.from(data)).digest());

// The @openid4vc callbacks: keys are looked up by their public JWK's x coordinate.
export function openid4vcCallbacks(keys) {
  const byX = new Map(keys.map((k) => [k.privateJwk.x, k]));
  return {
    hash,
    generateRandom: (length) => new Uint8Array(randomBytes(length)),
    signJwt: async (signer, { header, payload }) => {
      if (signer.method === 'custom') {
        // A key the verifier registered out of band: named by its `kid`, as the trust list has it.
        const key = keys.find((k) => k.kid === signer.kid);
        if (!key) throw new Error('no private key with that kid');
        const named = { ...header, kid: signer.kid };
        return { jwt: signJwt(signer.alg, key.privateJwk, named, payload), signerJwk: publicJwk(key.privateJwk) };
      }
      if (signer.method !== 'jwk') throw new Error(`signer method ${signer.method} not set up`);
      const key = byX.get(signer.publicJwk.x);
      if (!key) throw new Error('no private key for that JWK');
      return { jwt: signJwt(signer.alg, key.privateJwk, header, payload), signerJwk: signer.publicJwk };
    },
    verifyJwt: async (signer, { compact }) => {
      const jwk = signer.publicJwk;
      if (!jwk) return { verified: false };
      const [h, p, s] = compact.split('.');
      const ok = verifyBytes(signer.alg, jwk, Buffer.from(`${h}.${p}`), Buffer.from(s, 'base64url'));
      return ok ? { verified: true, signerJwk: jwk } : { verified: false };
    },
    encryptJwe: async () => {
      throw new Error('no JWE here');
    },
    decryptJwe: async () => {
      throw new Error('no JWE here');
    },
  };
}

// W3C Subresource Integrity (§3.1): algorithm, '-', standard base64 of the digest.
export function sriMatches(integrity, bytes) {
  const [alg, value] = integrity.split('-', 2);
  if (!['sha256', 'sha384', 'sha512'].includes(alg)) return false;
  return createHash(alg).update(bytes).digest('base64') === value;
}

export async function main(run) {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  try {
    const output = await run(input);
    process.stdout.write(JSON.stringify(output));
  } catch (error) {
    process.stdout.write(JSON.stringify({ fatal: String(error?.stack ?? error) }));
    process.exitCode = 1;
  }
}

// A failure the caller wants to see as data (the library's error name and message).
export async function outcome(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error: `${error?.name}: ${error?.message}`.slice(0, 2000), errorObject: error };
  }
}
