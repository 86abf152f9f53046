/**
 * Scope calls the broker answers itself, never forwarded: a Keyhole credential has no Vercel user,
 * and its only team is the pinned one (design.md "Scope answers").
 */
import { answerJson, type CallContext, type GatewayResult } from '../context.js';

/**
 * `GET /v2/user`: a synthetic user whose only team is the credential's pinned team. The CLI reads
 * `version: northstar` + `defaultTeamId` to pick its scope (`inspect`, `rollback`, `promote`); the
 * upstream token's real user (name, email, other teams) is never asked for, so it cannot leak.
 */
export async function getUser(ctx: CallContext): Promise<GatewayResult> {
  return {
    response: answerJson(200, {
      user: {
        id: 'keyhole',
        username: 'keyhole',
        email: null,
        name: 'Keyhole',
        defaultTeamId: ctx.claims.team,
        version: 'northstar',
      },
    }),
  };
}

/** `GET /teams/:id`: the pinned team's id (as its slug too: the broker knows no other name), any other team 403. */
export async function getTeam(ctx: CallContext): Promise<GatewayResult> {
  const pinned = ctx.config.projects.get(ctx.claims.pn);
  if (pinned && pinned.teamId === ctx.claims.team && ctx.route.param === pinned.teamId) {
    return { response: answerJson(200, { id: pinned.teamId, slug: pinned.teamId, name: pinned.teamId }) };
  }
  return {
    response: answerJson(403, {
      error: { code: 'team_unauthorized', message: 'Keyhole credentials read only their pinned team.' },
    }),
  };
}
