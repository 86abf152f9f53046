/** Uploads: POST /v2/files checks the declared digest and size against the body, then keeps the blob. */
import { error, readBody, send, type Route } from './http.js';

export const fileRoutes: Route[] = [
  {
    method: 'POST',
    path: /^\/v2\/files$/,
    handle: async (fake, { req, res, record }) => {
      const digest = (req.headers['x-vercel-digest'] ?? req.headers['x-now-digest']) as string | undefined;
      const declared = [req.headers['content-length'], req.headers['x-now-size']].filter(
        (v): v is string => typeof v === 'string',
      );
      if (!digest || !/^[0-9a-f]{40}$/i.test(digest))
        return error(res, 400, 'bad_request', 'Missing or invalid x-vercel-digest header');
      if (declared.length === 0)
        return error(res, 400, 'bad_request', 'Missing Content-Length or x-now-size header');
      const body = await readBody(req, true, fake.keepBytes);
      record.bytes = body.bytes;
      if (declared.some((d) => Number(d) !== body.bytes))
        return error(
          res,
          400,
          'bad_request',
          `File size mismatch: declared ${declared.join('/')}, received ${body.bytes}`,
        );
      if (body.sha !== digest.toLowerCase())
        return error(res, 400, 'bad_request', 'The file digest does not match the body');
      fake.blobs.set(body.sha!, { size: body.bytes, ...(body.data ? { data: body.data } : {}) });
      return send(res, 200, {});
    },
  },
];
