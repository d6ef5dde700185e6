// @openid4vc/openid4vci as a wallet against jigap's issuer over HTTP (tests/interop).
// Input: {"steps": [...]}; each step is one OID4VCI exchange, its outcome reported as data.
import { clientAuthenticationAnonymous, setGlobalConfig } from '@openid4vc/oauth2';
import { Openid4vciClient } from '@openid4vc/openid4vci';
import { main, newKey, openid4vcCallbacks, outcome, publicJwk } from './common.mjs';

setGlobalConfig({ allowInsecureUrls: true }); // the issuer listens on loopback http

function errorBody(error) {
  const response = error?.response;
  return (
    error?.errorResponse ??
    response?.credentialErrorResponseResult?.data ??
    response?.notificationErrorResponseResult?.data ??
    null
  );
}

async function failure(promise) {
  try {
    await promise;
    return { refused: false };
  } catch (error) {
    return { refused: true, name: error?.name, message: String(error?.message).slice(0, 1500), body: errorBody(error) };
  }
}

async function exchange(step) {
  const keys = Array.from({ length: step.batch ?? 1 }, () => newKey(step.alg ?? 'ES256'));
  const client = new Openid4vciClient({ callbacks: { ...openid4vcCallbacks(keys), clientAuthentication: clientAuthenticationAnonymous() } });
  const credentialOffer = await client.resolveCredentialOffer(step.offer_uri);
  const issuerMetadata = await client.resolveIssuerMetadata(credentialOffer.credential_issuer);
  const configurationId = credentialOffer.credential_configuration_ids[0];
  const report = { id: step.id, configuration_id: configurationId };

  if (step.wrong_tx_code) {
    report.wrong_tx_code = await failure(
      client.retrievePreAuthorizedCodeAccessTokenFromOffer({ credentialOffer, issuerMetadata, txCode: '000000' }),
    );
  }
  const { accessTokenResponse } = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
    credentialOffer,
    issuerMetadata,
    txCode: step.tx_code ?? undefined,
  });
  const accessToken = accessTokenResponse.access_token;
  const proofs = async (nonce) => {
    const jwts = [];
    for (const key of keys) {
      const signer = { method: 'jwk', alg: key.alg, publicJwk: publicJwk(key.privateJwk) };
      const { jwt } = await client.createCredentialRequestJwtProof({
        issuerMetadata, credentialConfigurationId: configurationId, signer, nonce,
      });
      jwts.push(jwt);
    }
    return { jwt: jwts };
  };
  const { c_nonce } = await client.requestNonce({ issuerMetadata });
  const asked = await outcome(
    client.retrieveCredentials({ issuerMetadata, accessToken, credentialConfigurationId: configurationId, proofs: await proofs(c_nonce) }),
  );
  if (!asked.ok) {
    return { ...report, refused: await failure(Promise.reject(asked.errorObject)), error: asked.error };
  }
  const answer = asked.value.credentialResponse;
  report.holder_keys = keys.map((k) => k.privateJwk);
  report.credentials = (answer.credentials ?? []).map((c) => c.credential);
  report.transaction_id = answer.transaction_id ?? null;
  report.interval = answer.interval ?? null;
  report.notification_id = answer.notification_id ?? null;
  report.access_token = accessToken;
  if (step.reuse_nonce) {
    report.reused_nonce = await failure(
      client.retrieveCredentials({ issuerMetadata, accessToken, credentialConfigurationId: configurationId, proofs: await proofs(c_nonce) }),
    );
  }
  if (step.notify && report.notification_id) {
    const sent = await outcome(
      client.sendNotification({ issuerMetadata, accessToken, notification: { notificationId: report.notification_id, event: step.notify } }),
    );
    report.notified = sent.ok ? { ok: true } : { ok: false, error: sent.error };
    if (step.notify_twice) {
      report.notified_again = await failure(
        client.sendNotification({ issuerMetadata, accessToken, notification: { notificationId: report.notification_id, event: step.notify } }),
      );
      report.notified_unknown = await failure(
        client.sendNotification({ issuerMetadata, accessToken, notification: { notificationId: 'not-one-of-ours', event: step.notify } }),
      );
    }
  }
  return report;
}

async function deferred(step) {
  const client = new Openid4vciClient({ callbacks: { ...openid4vcCallbacks([]), clientAuthentication: clientAuthenticationAnonymous() } });
  const issuerMetadata = await client.resolveIssuerMetadata(step.credential_issuer);
  try {
    const { deferredCredentialResponse } = await client.retrieveDeferredCredentials({
      issuerMetadata, accessToken: step.access_token, transactionId: step.transaction_id,
    });
    return { id: step.id, refused: false, credentials: (deferredCredentialResponse.credentials ?? []).map((c) => c.credential) };
  } catch (error) {
    const raw = error?.response?.deferredCredentialResponseResult;
    return {
      id: step.id, refused: true, name: error?.name, message: String(error?.message).slice(0, 300),
      // What the library read but would not accept, so the caller can say why.
      issues: raw?.error?.issues?.map((issue) => issue.message) ?? null,
      body: error?.response?.deferredCredentialErrorResponseResult?.data ?? errorBody(error),
    };
  }
}

main(async ({ steps }) => {
  const reports = [];
  for (const step of steps) {
    reports.push(step.deferred ? await deferred(step) : await exchange(step));
  }
  return { reports };
});
