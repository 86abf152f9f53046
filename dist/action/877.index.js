export const id = 877;
export const ids = [877];
export const modules = {

/***/ 4877:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  createDeployer: () => (/* binding */ createDeployer),
  deploymentBody: () => (/* binding */ deploymentBody)
});

// EXTERNAL MODULE: ./node_modules/@vercel/sdk/esm/funcs/deploymentsCancelDeployment.js + 3 modules
var deploymentsCancelDeployment = __webpack_require__(7284);
// EXTERNAL MODULE: ./src/shared/wire.ts
var wire = __webpack_require__(260);
// EXTERNAL MODULE: ./src/action/deployment.ts
var action_deployment = __webpack_require__(5215);
// EXTERNAL MODULE: ./node_modules/@vercel/sdk/esm/funcs/deploymentsGetDeployment.js + 4 modules
var deploymentsGetDeployment = __webpack_require__(9172);
// EXTERNAL MODULE: ./src/action/retry.ts
var retry = __webpack_require__(4648);
// EXTERNAL MODULE: ./node_modules/@vercel/sdk/esm/core.js + 5 modules
var esm_core = __webpack_require__(9222);
// EXTERNAL MODULE: ./node_modules/@vercel/sdk/esm/lib/http.js
var http = __webpack_require__(3157);
// EXTERNAL MODULE: ./node_modules/@vercel/sdk/esm/models/responsevalidationerror.js
var responsevalidationerror = __webpack_require__(5070);
// EXTERNAL MODULE: ./node_modules/@vercel/sdk/esm/models/vercelerror.js
var vercelerror = __webpack_require__(9919);
// EXTERNAL MODULE: ./node_modules/@vercel/sdk/esm/models/httpclienterrors.js
var httpclienterrors = __webpack_require__(5158);
;// CONCATENATED MODULE: ./src/action/vercel-client.ts
/** The gateway as a deploy calls it: the @vercel/sdk client, and its answers as values, retries or DeployErrors. */








function createDeployClient(settings, deps) {
    const core = new esm_core/* VercelCore */.B({
        bearerToken: settings.credential,
        serverURL: settings.brokerUrl,
        httpClient: new http/* HTTPClient */.ST({ fetcher: (input, init) => deps.fetch(input, init) }),
    });
    return { settings, deps, core, auth: { authorization: `Bearer ${settings.credential}` } };
}
function describeError(status, body) {
    if ((0,wire/* isErrorBody */.HR)(body))
        return `${status} ${body.error.code}: ${body.error.message}`;
    return `HTTP ${status}`;
}
/** SDK results become values, retryable errors or a DeployError with the broker's own words. */
function unwrap(what, result) {
    if (result.ok)
        return result.value;
    const error = result.error;
    // A 2xx answer whose shape the SDK's schema does not know (a newer API, an emulator) is still
    // an answer: the fields the action reads are checked where they are used.
    if (error instanceof responsevalidationerror/* ResponseValidationError */.d &&
        error.statusCode < 300 &&
        typeof error.rawValue === 'object' &&
        error.rawValue !== null) {
        return error.rawValue;
    }
    if (error instanceof vercelerror/* VercelError */.q) {
        if (retry/* RETRYABLE_STATUS */.Uz.has(error.statusCode))
            throw (0,retry/* retryableAnswer */.bG)(`${what}: `, error.statusCode, error.headers);
        let body;
        try {
            body = JSON.parse(error.body);
        }
        catch {
            body = undefined;
        }
        throw new action_deployment/* DeployError */.sH(`${what} failed: ${describeError(error.statusCode, body)}`);
    }
    if (error instanceof httpclienterrors/* HTTPClientError */.yi)
        throw new retry/* RetryableError */.dw(`${what}: ${error.message}`);
    throw new action_deployment/* DeployError */.sH(`${what} failed: ${error instanceof Error ? error.message : String(error)}`);
}

;// CONCATENATED MODULE: ./src/action/follow-build.ts
/** Follows a build to its end: the log streamed while it lasts, then polling until it settles or times out. */




async function waitForBuild(client, initial, timeoutMs) {
    const { deps } = client;
    const deadline = deps.now() + timeoutMs;
    let deployment = initial;
    const streamAbort = new AbortController();
    const onAbort = () => streamAbort.abort();
    deps.signal.addEventListener('abort', onAbort, { once: true });
    deps.log.startGroup(`Build log of ${deployment.id}`);
    try {
        if (!action_deployment/* TERMINAL */.ff.has(deployment.readyState)) {
            const timer = setTimeout(() => streamAbort.abort(), Math.max(0, deadline - deps.now()));
            await followEvents(client, deployment.id, streamAbort.signal);
            clearTimeout(timer);
        }
        let interval = deps.pollIntervalMs ?? 1000;
        for (;;) {
            if (deps.signal.aborted)
                throw new action_deployment/* DeployError */.sH('the job was cancelled', deployment);
            deployment = await getDeployment(client, deployment.id);
            const done = deployment.readyState === 'READY'
                ? Boolean(deployment.aliasAssigned)
                : action_deployment/* TERMINAL */.ff.has(deployment.readyState);
            if (done)
                return deployment;
            if (deps.now() >= deadline)
                throw new action_deployment/* DeployError */.sH(`the deployment is still ${deployment.readyState} after the timeout`, deployment);
            await new Promise((resolve) => setTimeout(resolve, Math.min(interval, Math.max(0, deadline - deps.now()))));
            interval = Math.min(interval * 1.5, 5000);
        }
    }
    finally {
        deps.log.endGroup();
        deps.signal.removeEventListener('abort', onAbort);
        streamAbort.abort();
    }
}
async function getDeployment({ core, deps }, id) {
    return (0,retry/* withRetry */.bD)('read deployment', deps.retry, async () => {
        const result = await (0,deploymentsGetDeployment/* deploymentsGetDeployment */.u)(core, { idOrUrl: id }, { fetchOptions: { signal: deps.signal } });
        return unwrap('reading the deployment', result);
    });
}
/** Prints the build log as it streams; returns when the stream ends (or fails: polling takes over). */
async function followEvents({ settings, deps, auth }, id, signal) {
    const query = new URLSearchParams({ direction: 'forward', follow: '1', format: 'lines' });
    let response;
    try {
        response = await deps.fetch(`${settings.brokerUrl}/v3/deployments/${id}/events?${query}`, {
            headers: auth,
            signal,
        });
    }
    catch {
        return;
    }
    if (!response.ok || !response.body) {
        await response.body?.cancel();
        return;
    }
    const decoder = new TextDecoder();
    let buffered = '';
    const reader = response.body.getReader();
    try {
        for (;;) {
            const { done, value } = await reader.read();
            if (done)
                return;
            buffered += decoder.decode(value, { stream: true });
            let newline;
            // The build's own output (a dependency's install script writes it): relayed as data, one
            // block per chunk, never as workflow commands (relay.ts).
            const lines = [];
            let assigned = false;
            while (!assigned && (newline = buffered.indexOf('\n')) !== -1) {
                const line = buffered.slice(0, newline).trim();
                buffered = buffered.slice(newline + 1);
                if (!line)
                    continue;
                try {
                    const event = JSON.parse(line);
                    // Lines without `created` are keep-alives (Vercel CLI util/logs.ts).
                    if (typeof event.text === 'string' && event.text && event.created !== undefined)
                        lines.push(event.text);
                    assigned = event.type === 'alias-assigned';
                }
                catch {
                    // Not JSON: a partial or foreign line is skipped, not fatal.
                }
            }
            deps.log.relay(lines);
            if (assigned) {
                await reader.cancel();
                return;
            }
        }
    }
    catch {
        // Stream broken: polling finishes the job.
    }
}

// EXTERNAL MODULE: ./node_modules/@vercel/sdk/esm/funcs/deploymentsUploadFile.js + 1 modules
var deploymentsUploadFile = __webpack_require__(7842);
// EXTERNAL MODULE: ./src/action/batch.ts
var action_batch = __webpack_require__(826);
// EXTERNAL MODULE: ./src/action/safe-fs.ts + 1 modules
var safe_fs = __webpack_require__(467);
;// CONCATENATED MODULE: ./src/action/upload.ts
/** Uploads exactly the files Vercel lacks: small ones in batches when the broker offers them, with progress. */







async function uploadMissing(client, files, missing) {
    const { settings, deps } = client;
    const bySha = new Map(files.map((f) => [f.sha, f]));
    const todo = [...new Set(missing)].map((sha) => {
        const file = bySha.get(sha);
        if (!file)
            throw new action_deployment/* DeployError */.sH(`the broker asked for a file this deploy does not contain (${sha})`);
        return file;
    });
    const totalBytes = todo.reduce((n, f) => n + f.size, 0);
    let doneBytes = 0;
    let doneFiles = 0;
    let lastReport = 0;
    deps.log.info(`Uploading ${todo.length} file(s), ${(0,action_deployment/* formatBytes */.z3)(totalBytes)}; ${files.length - todo.length} already on Vercel`);
    const done = (file) => {
        doneBytes += file.size;
        doneFiles += 1;
        if (deps.now() - lastReport > 2000 || doneFiles === todo.length) {
            lastReport = deps.now();
            deps.log.info(`  uploaded ${(0,action_deployment/* formatBytes */.z3)(doneBytes)} of ${(0,action_deployment/* formatBytes */.z3)(totalBytes)} (${doneFiles}/${todo.length} files)`);
        }
    };
    const { batches, singles } = settings.batch
        ? (0,action_batch/* planBatches */.un)(todo, settings.batch)
        : { batches: [], singles: todo };
    // Batches and large files share the credential's in-flight slots at the broker (max_inflight_uploads).
    const singleConcurrency = batches.length > 0 ? 8 : (deps.uploadConcurrency ?? 32);
    await Promise.all([
        mapLimit(batches, action_batch/* BATCH_CONCURRENCY */.Rf, (batch) => uploadBatch(client, batch, done)),
        mapLimit(singles, singleConcurrency, async (file) => {
            await uploadFile(client, file);
            done(file);
        }),
    ]);
    return (0,action_deployment/* uploadStats */.zY)(files, todo);
}
async function uploadFile({ core, deps }, file) {
    await (0,retry/* withRetry */.bD)(`upload ${file.file}`, deps.retry, async () => {
        // Opened and proved to be the listed file before a byte is sent (safe-fs.ts), every attempt.
        const requestBody = file.isSymlink
            ? new Uint8Array((0,safe_fs/* readLinkVerified */.Zi)(file.absolute, file.identity, file.file))
            : file.size === 0
                ? new Uint8Array(0)
                : (0,safe_fs/* streamVerified */.Fy)(file.absolute, file.identity, file.size, file.file);
        const result = await (0,deploymentsUploadFile/* deploymentsUploadFile */.i)(core, {
            contentLength: file.size,
            xVercelDigest: file.sha,
            xNowDigest: file.sha,
            xNowSize: file.size,
            requestBody,
        }, { fetchOptions: { signal: deps.signal } });
        unwrap(`upload ${file.file}`, result);
    });
}
/**
 * One batch to the broker; a retry resends only the files the answer did not confirm, so a
 * refused file (429, 5xx) costs one small request, not the batch.
 */
async function uploadBatch({ settings, deps, auth }, batch, done) {
    const url = `${settings.brokerUrl}${settings.batch.path}`;
    let pending = batch;
    await (0,retry/* withRetry */.bD)(`upload a batch of ${batch.length} files`, deps.retry, async () => {
        const { body, length } = (0,action_batch/* batchRequestBody */.AH)((0,action_batch/* encodeBatch */.B4)(pending));
        let response;
        try {
            response = await deps.fetch(url, {
                method: 'POST',
                headers: {
                    ...auth,
                    'content-type': wire/* BATCH_CONTENT_TYPE */.AA,
                    'content-length': String(length),
                    accept: 'application/json',
                    [wire/* BATCH_FILES_HEADER */.T1]: String(pending.length),
                },
                body,
                duplex: 'half',
                signal: deps.signal,
            });
        }
        catch (error) {
            throw new retry/* RetryableError */.dw(`upload batch: network error: ${error instanceof Error ? (error.cause?.message ?? error.message) : String(error)}`);
        }
        if (retry/* RETRYABLE_STATUS */.Uz.has(response.status)) {
            await response.body?.cancel();
            throw new retry/* RetryableError */.dw(`upload batch: HTTP ${response.status}`, (0,retry/* retryAfterMs */.Vs)(response.headers.get('retry-after')));
        }
        const answer = (await response.json().catch(() => undefined));
        if (!response.ok)
            throw new action_deployment/* DeployError */.sH(`uploading a batch of files failed: ${describeError(response.status, answer)}`);
        const results = answer?.files;
        if (!Array.isArray(results) || results.length !== pending.length)
            throw new action_deployment/* DeployError */.sH('the broker answered a batch upload without one result per file');
        const failed = [];
        results.forEach((result, i) => {
            const file = pending[i];
            if (result.status < 300)
                done(file);
            else if (retry/* RETRYABLE_STATUS */.Uz.has(result.status))
                failed.push(file);
            else
                throw new action_deployment/* DeployError */.sH(`upload ${file.file} failed: ${result.status} ${result.error?.code ?? ''}: ${result.error?.message ?? ''}`);
        });
        if (failed.length > 0) {
            pending = failed;
            throw new retry/* RetryableError */.dw(`upload batch: ${failed.length} of ${results.length} file(s) to retry`);
        }
    });
}
/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function mapLimit(items, limit, fn) {
    const results = new Array(items.length);
    let next = 0;
    const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
        while (next < items.length) {
            const index = next++;
            results[index] = await fn(items[index], index);
        }
    });
    await Promise.all(workers);
    return results;
}

;// CONCATENATED MODULE: ./src/action/deploy.ts
/** The deploy: create → missing_files → upload exactly those → create again → follow the build to its end. */







function createDeployer(settings, deps) {
    const client = createDeployClient(settings, deps);
    return {
        create: (body) => createDeployment(client, body),
        uploadMissing: (files, missing) => uploadMissing(client, files, missing),
        wait: (initial, timeoutMs) => waitForBuild(client, initial, timeoutMs),
        cancel: (id) => cancelDeployment(client, id),
    };
}
async function createDeployment({ settings, deps, auth }, body) {
    const query = new URLSearchParams({ skipAutoDetectionConfirmation: '1' });
    if (settings.prebuilt)
        query.set('prebuilt', '1');
    // The official CLI's flags (--force, --with-cache) as it sends them: query flags of the create.
    if (settings.force)
        query.set('forceNew', '1');
    if (settings.withCache)
        query.set('withCache', '1');
    // Plain fetch: @vercel/sdk's createDeployment strips files[].mode (research/vercel.md §4).
    const response = await (0,retry/* fetchRetrying */.JU)(deps.fetch, 'create deployment', deps.retry, `${settings.brokerUrl}/v13/deployments?${query}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', accept: 'application/json' },
        body,
        signal: deps.signal,
    });
    const json = (await response.json().catch(() => undefined));
    if (response.status === 400 && (0,wire/* isErrorBody */.HR)(json) && json.error.code === 'missing_files') {
        return { missing: json.error.missing ?? [] };
    }
    if (!response.ok)
        throw new action_deployment/* DeployError */.sH(`creating the deployment failed: ${describeError(response.status, json)}`);
    return { deployment: json };
}
async function cancelDeployment({ core, deps }, id) {
    const result = await (0,deploymentsCancelDeployment/* deploymentsCancelDeployment */.M)(core, { id });
    if (!result.ok)
        deps.log.warning(`could not cancel deployment ${id}: ${String(result.error)}`);
}
const nonEmpty = (record) => record && Object.keys(record).length > 0 ? record : undefined;
function deploymentBody(files, project, target, meta = {}, options = {}) {
    const env = nonEmpty(options.env);
    const buildEnv = nonEmpty(options.buildEnv);
    return JSON.stringify({
        name: project.name,
        project: project.id,
        ...(target === 'production'
            ? // Staged: built for production, domains left where they are until a promote (the CLI's --skip-domain).
                { target: 'production', ...(options.stage ? { autoAssignCustomDomains: false } : {}) }
            : target === 'preview'
                ? {}
                : { customEnvironmentSlugOrId: target }),
        version: 2,
        meta,
        ...(env ? { env } : {}),
        ...(buildEnv ? { build: { env: buildEnv } } : {}),
        ...(options.regions?.length ? { regions: options.regions } : {}),
        files: files.map((f) => ({ file: f.file, sha: f.sha, size: f.size, mode: f.mode })),
    });
}


/***/ })

};
