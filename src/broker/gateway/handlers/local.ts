/** Calls the broker answers itself, without Vercel: Keyhole credentials have no user and read no team. */
import { answerJson, type CallContext, type GatewayResult } from '../context.js';

export async function getUser(_ctx: CallContext): Promise<GatewayResult> {
  return {
    response: answerJson(404, { error: { code: 'not_found', message: 'Keyhole credentials have no user.' } }),
  };
}

export async function getTeam(ctx: CallContext): Promise<GatewayResult> {
  // `vercel pull` before CLI 64 insists on reading the team and gives up on 403
  // (vercel/vercel#17506): projects that enable env_pull answer with the pinned team's id, nothing more.
  const pinned = ctx.config.projects.get(ctx.claims.pn);
  if (pinned && pinned.envPull.length > 0 && ctx.route.param === pinned.teamId) {
    return { response: answerJson(200, { id: pinned.teamId, slug: pinned.teamId, name: pinned.teamId }) };
  }
  return {
    response: answerJson(403, {
      error: { code: 'team_unauthorized', message: 'Keyhole credentials cannot read teams.' },
    }),
  };
}
