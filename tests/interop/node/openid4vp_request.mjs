// @openid4vc/openid4vp as a verifier (relying party): an OpenID4VP 1.0 request object with a
// DCQL query, signed (JAR, RFC 9101) with a key the trust operator registered for it.
import { Openid4vpVerifier } from '@openid4vc/openid4vp';
import { main, openid4vcCallbacks } from './common.mjs';

main(async (input) => {
  const key = { alg: 'ES256', kid: input.kid, privateJwk: input.private_jwk };
  const verifier = new Openid4vpVerifier({ callbacks: openid4vcCallbacks([key]) });
  const created = await verifier.createOpenId4vpAuthorizationRequest({
    authorizationRequestPayload: {
      response_type: 'vp_token',
      client_id: input.client_id, // pre-registered (§5.9.2): no prefix
      response_mode: 'direct_post',
      response_uri: input.response_uri,
      nonce: input.nonce,
      state: input.state,
      dcql_query: input.dcql_query,
      purpose: input.purpose, // our profile's member; the library passes unknown members on
    },
    jar: {
      jwtSigner: { method: 'custom', alg: 'ES256', kid: input.kid },
      expiresInSeconds: 300,
      additionalJwtPayload: { aud: 'https://self-issued.me/v2' }, // §5.8, static discovery
      now: new Date(input.now * 1000), // the JAR's iat/exp read it here, not from `now` below
    },
    now: new Date(input.now * 1000),
  });
  return { request: created.jar.authorizationRequestJwt, uri: created.authorizationRequest };
});
