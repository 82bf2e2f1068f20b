/**
 * Convex trusts access tokens signed by the Tabletop API (RS256, keys published at
 * https://<api host>/.well-known/jwks.json). Set the variables on the deployment with
 * `npx convex env set NAME value`; this file is evaluated at push time.
 */
import type { AuthConfig } from "convex/server";

function required(name: string): string {
  const value = process.env[name];
  // Fail the push rather than deploy a provider that accepts no token, or the wrong one.
  if (value === undefined || value === "") {
    throw new Error(
      `${name} is not set on this Convex deployment (npx convex env set ${name} ...)`,
    );
  }
  return value;
}

export default {
  providers: [
    {
      type: "customJwt",
      issuer: required("TABLETOP_JWT_ISSUER"),
      jwks: required("TABLETOP_JWKS_URL"),
      algorithm: "RS256",
      applicationID: process.env.TABLETOP_CONVEX_AUDIENCE ?? "tabletop-convex",
    },
  ],
} satisfies AuthConfig;
