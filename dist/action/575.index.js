export const id = 575;
export const ids = [575];
export const modules = {

/***/ 6575:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   DeployError: () => (/* binding */ DeployError),
/* harmony export */   checkBuildOutput: () => (/* binding */ checkBuildOutput),
/* harmony export */   createDeployer: () => (/* binding */ createDeployer),
/* harmony export */   deploymentBody: () => (/* binding */ deploymentBody),
/* harmony export */   uploadStats: () => (/* binding */ uploadStats)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(1455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(6760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var _vercel_sdk_core_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(9222);
/* harmony import */ var _vercel_sdk_funcs_deploymentsCancelDeployment_js__WEBPACK_IMPORTED_MODULE_13__ = __webpack_require__(7284);
/* harmony import */ var _vercel_sdk_funcs_deploymentsGetDeployment_js__WEBPACK_IMPORTED_MODULE_12__ = __webpack_require__(9172);
/* harmony import */ var _vercel_sdk_funcs_deploymentsUploadFile_js__WEBPACK_IMPORTED_MODULE_11__ = __webpack_require__(7842);
/* harmony import */ var _vercel_sdk_lib_http_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(3157);
/* harmony import */ var _vercel_sdk_models_responsevalidationerror_js__WEBPACK_IMPORTED_MODULE_8__ = __webpack_require__(5070);
/* harmony import */ var _vercel_sdk_models_vercelerror_js__WEBPACK_IMPORTED_MODULE_9__ = __webpack_require__(9919);
/* harmony import */ var _vercel_sdk_models_httpclienterrors_js__WEBPACK_IMPORTED_MODULE_10__ = __webpack_require__(5158);
/* harmony import */ var _shared_wire_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(260);
/* harmony import */ var _batch_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(826);
/* harmony import */ var _retry_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(4648);
/** The deploy: create → missing_files → upload exactly those → create again → follow the build to its end. */














class DeployError extends Error {
    deployment;
    constructor(message, deployment) {
        super(message);
        this.name = 'DeployError';
        this.deployment = deployment;
    }
}
const TERMINAL = new Set(['READY', 'ERROR', 'CANCELED']);
const MB = 1024 * 1024;
function describeError(status, body) {
    if ((0,_shared_wire_js__WEBPACK_IMPORTED_MODULE_5__/* .isErrorBody */ .HR)(body))
        return `${status} ${body.error.code}: ${body.error.message}`;
    return `HTTP ${status}`;
}
/** Prebuilt deploys check what `vercel build` left behind, as the official CLI does before uploading. */
async function checkBuildOutput(root, target) {
    const file = node_path__WEBPACK_IMPORTED_MODULE_2___default().join(root, '.vercel', 'output', 'builds.json');
    let builds;
    try {
        builds = JSON.parse(await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.readFile)(file, 'utf8'));
    }
    catch {
        throw new DeployError(`.vercel/output/builds.json is missing or unreadable in ${root}; run "vercel build${target === 'production' ? ' --prod' : ''}" before deploying with prebuilt: true`);
    }
    if (builds.error)
        throw new DeployError(`the prebuilt output records a failed build: ${builds.error.message ?? 'unknown error'}; fix the build and run "vercel build" again`);
    const builtFor = builds.target ?? 'preview';
    if ((builtFor === 'production') !== (target === 'production')) {
        throw new DeployError(`the prebuilt output was built for ${builtFor}, but target is ${target}; run "vercel build${target === 'production' ? ' --prod' : ''}" for this target`);
    }
}
function createDeployer(settings, deps) {
    const core = new _vercel_sdk_core_js__WEBPACK_IMPORTED_MODULE_6__/* .VercelCore */ .B({
        bearerToken: settings.credential,
        serverURL: settings.brokerUrl,
        httpClient: new _vercel_sdk_lib_http_js__WEBPACK_IMPORTED_MODULE_7__/* .HTTPClient */ .ST({ fetcher: (input, init) => deps.fetch(input, init) }),
    });
    const auth = { authorization: `Bearer ${settings.credential}` };
    /** SDK results become values, retryable errors or a DeployError with the broker's own words. */
    function unwrap(what, result) {
        if (result.ok)
            return result.value;
        const error = result.error;
        // A 2xx answer whose shape the SDK's schema does not know (a newer API, an emulator) is still
        // an answer: the fields the action reads are checked where they are used.
        if (error instanceof _vercel_sdk_models_responsevalidationerror_js__WEBPACK_IMPORTED_MODULE_8__/* .ResponseValidationError */ .d &&
            error.statusCode < 300 &&
            typeof error.rawValue === 'object' &&
            error.rawValue !== null) {
            return error.rawValue;
        }
        if (error instanceof _vercel_sdk_models_vercelerror_js__WEBPACK_IMPORTED_MODULE_9__/* .VercelError */ .q) {
            if (_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RETRYABLE_STATUS */ .Uz.has(error.statusCode))
                throw new _retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw(`${what}: HTTP ${error.statusCode}`, (0,_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .retryAfterMs */ .Vs)(error.headers.get('retry-after')));
            let body;
            try {
                body = JSON.parse(error.body);
            }
            catch {
                body = undefined;
            }
            throw new DeployError(`${what} failed: ${describeError(error.statusCode, body)}`);
        }
        if (error instanceof _vercel_sdk_models_httpclienterrors_js__WEBPACK_IMPORTED_MODULE_10__/* .HTTPClientError */ .yi)
            throw new _retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw(`${what}: ${error.message}`);
        throw new DeployError(`${what} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    async function create(body) {
        const query = new URLSearchParams({ skipAutoDetectionConfirmation: '1' });
        if (settings.prebuilt)
            query.set('prebuilt', '1');
        // Plain fetch: @vercel/sdk's createDeployment strips files[].mode (research/vercel.md §4).
        const response = await (0,_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .fetchRetrying */ .JU)(deps.fetch, 'create deployment', deps.retry, `${settings.brokerUrl}/v13/deployments?${query}`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json', accept: 'application/json' },
            body,
            signal: deps.signal,
        });
        const json = (await response.json().catch(() => undefined));
        if (response.status === 400 && (0,_shared_wire_js__WEBPACK_IMPORTED_MODULE_5__/* .isErrorBody */ .HR)(json) && json.error.code === 'missing_files') {
            return { missing: json.error.missing ?? [] };
        }
        if (!response.ok)
            throw new DeployError(`creating the deployment failed: ${describeError(response.status, json)}`);
        return { deployment: json };
    }
    async function upload(file) {
        await (0,_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .withRetry */ .bD)(`upload ${file.file}`, deps.retry, async () => {
            const requestBody = file.isSymlink
                ? new Uint8Array(Buffer.from(await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.readlink)(file.absolute)))
                : file.size === 0
                    ? new Uint8Array(0)
                    : await (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.openAsBlob)(file.absolute);
            const result = await (0,_vercel_sdk_funcs_deploymentsUploadFile_js__WEBPACK_IMPORTED_MODULE_11__/* .deploymentsUploadFile */ .i)(core, {
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
    async function uploadBatch(batch, done) {
        const url = `${settings.brokerUrl}${settings.batch.path}`;
        let pending = batch;
        await (0,_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .withRetry */ .bD)(`upload a batch of ${batch.length} files`, deps.retry, async () => {
            const { body, length } = (0,_batch_js__WEBPACK_IMPORTED_MODULE_3__/* .batchRequestBody */ .AH)((0,_batch_js__WEBPACK_IMPORTED_MODULE_3__/* .encodeBatch */ .B4)(pending));
            let response;
            try {
                response = await deps.fetch(url, {
                    method: 'POST',
                    headers: {
                        ...auth,
                        'content-type': _shared_wire_js__WEBPACK_IMPORTED_MODULE_5__/* .BATCH_CONTENT_TYPE */ .AA,
                        'content-length': String(length),
                        accept: 'application/json',
                        [_shared_wire_js__WEBPACK_IMPORTED_MODULE_5__/* .BATCH_FILES_HEADER */ .T1]: String(pending.length),
                    },
                    body,
                    duplex: 'half',
                    signal: deps.signal,
                });
            }
            catch (error) {
                throw new _retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw(`upload batch: network error: ${error instanceof Error ? (error.cause?.message ?? error.message) : String(error)}`);
            }
            if (_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RETRYABLE_STATUS */ .Uz.has(response.status)) {
                await response.body?.cancel();
                throw new _retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw(`upload batch: HTTP ${response.status}`, (0,_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .retryAfterMs */ .Vs)(response.headers.get('retry-after')));
            }
            const answer = (await response.json().catch(() => undefined));
            if (!response.ok)
                throw new DeployError(`uploading a batch of files failed: ${describeError(response.status, answer)}`);
            const results = answer?.files;
            if (!Array.isArray(results) || results.length !== pending.length)
                throw new DeployError('the broker answered a batch upload without one result per file');
            const failed = [];
            results.forEach((result, i) => {
                const file = pending[i];
                if (result.status < 300)
                    done(file);
                else if (_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RETRYABLE_STATUS */ .Uz.has(result.status))
                    failed.push(file);
                else
                    throw new DeployError(`upload ${file.file} failed: ${result.status} ${result.error?.code ?? ''}: ${result.error?.message ?? ''}`);
            });
            if (failed.length > 0) {
                pending = failed;
                throw new _retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw(`upload batch: ${failed.length} of ${results.length} file(s) to retry`);
            }
        });
    }
    async function uploadMissing(files, missing) {
        const bySha = new Map(files.map((f) => [f.sha, f]));
        const todo = [...new Set(missing)].map((sha) => {
            const file = bySha.get(sha);
            if (!file)
                throw new DeployError(`the broker asked for a file this deploy does not contain (${sha})`);
            return file;
        });
        const totalBytes = todo.reduce((n, f) => n + f.size, 0);
        let doneBytes = 0;
        let doneFiles = 0;
        let lastReport = 0;
        deps.log.info(`Uploading ${todo.length} file(s), ${(totalBytes / MB).toFixed(1)} MB; ${files.length - todo.length} already on Vercel`);
        const done = (file) => {
            doneBytes += file.size;
            doneFiles += 1;
            if (deps.now() - lastReport > 2000 || doneFiles === todo.length) {
                lastReport = deps.now();
                deps.log.info(`  uploaded ${(doneBytes / MB).toFixed(1)} of ${(totalBytes / MB).toFixed(1)} MB (${doneFiles}/${todo.length} files)`);
            }
        };
        const { batches, singles } = settings.batch
            ? (0,_batch_js__WEBPACK_IMPORTED_MODULE_3__/* .planBatches */ .un)(todo, settings.batch)
            : { batches: [], singles: todo };
        // Batches and large files share the credential's in-flight slots at the broker (max_inflight_uploads).
        const singleConcurrency = batches.length > 0 ? 8 : (deps.uploadConcurrency ?? 32);
        await Promise.all([
            mapLimit(batches, _batch_js__WEBPACK_IMPORTED_MODULE_3__/* .BATCH_CONCURRENCY */ .Rf, (batch) => uploadBatch(batch, done)),
            mapLimit(singles, singleConcurrency, async (file) => {
                await upload(file);
                done(file);
            }),
        ]);
        return uploadStats(files, todo);
    }
    async function get(id) {
        return (0,_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .withRetry */ .bD)('read deployment', deps.retry, async () => {
            const result = await (0,_vercel_sdk_funcs_deploymentsGetDeployment_js__WEBPACK_IMPORTED_MODULE_12__/* .deploymentsGetDeployment */ .u)(core, { idOrUrl: id }, { fetchOptions: { signal: deps.signal } });
            return unwrap('reading the deployment', result);
        });
    }
    /** Prints the build log as it streams; returns when the stream ends (or fails: polling takes over). */
    async function followEvents(id, signal) {
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
                while ((newline = buffered.indexOf('\n')) !== -1) {
                    const line = buffered.slice(0, newline).trim();
                    buffered = buffered.slice(newline + 1);
                    if (!line)
                        continue;
                    try {
                        const event = JSON.parse(line);
                        // Lines without `created` are keep-alives (Vercel CLI util/logs.ts).
                        if (event.text && event.created !== undefined)
                            deps.log.info(event.text);
                        if (event.type === 'alias-assigned') {
                            await reader.cancel();
                            return;
                        }
                    }
                    catch {
                        // Not JSON: a partial or foreign line is skipped, not fatal.
                    }
                }
            }
        }
        catch {
            // Stream broken: polling finishes the job.
        }
    }
    async function wait(initial, timeoutMs) {
        const deadline = deps.now() + timeoutMs;
        let deployment = initial;
        const streamAbort = new AbortController();
        const onAbort = () => streamAbort.abort();
        deps.signal.addEventListener('abort', onAbort, { once: true });
        deps.log.startGroup(`Build log of ${deployment.id}`);
        try {
            if (!TERMINAL.has(deployment.readyState)) {
                const timer = setTimeout(() => streamAbort.abort(), Math.max(0, deadline - deps.now()));
                await followEvents(deployment.id, streamAbort.signal);
                clearTimeout(timer);
            }
            let interval = deps.pollIntervalMs ?? 1000;
            for (;;) {
                if (deps.signal.aborted)
                    throw new DeployError('the job was cancelled', deployment);
                deployment = await get(deployment.id);
                const done = deployment.readyState === 'READY'
                    ? Boolean(deployment.aliasAssigned)
                    : TERMINAL.has(deployment.readyState);
                if (done)
                    return deployment;
                if (deps.now() >= deadline)
                    throw new DeployError(`the deployment is still ${deployment.readyState} after the timeout`, deployment);
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
    async function cancel(id) {
        const result = await (0,_vercel_sdk_funcs_deploymentsCancelDeployment_js__WEBPACK_IMPORTED_MODULE_13__/* .deploymentsCancelDeployment */ .M)(core, { id });
        if (!result.ok)
            deps.log.warning(`could not cancel deployment ${id}: ${String(result.error)}`);
    }
    return { create, uploadMissing, wait, cancel };
}
/** What a deploy uploaded against what Vercel already had (by content: identical files count once). */
function uploadStats(files, uploaded) {
    return {
        uploaded: uploaded.length,
        reused: new Set(files.map((f) => f.sha)).size - uploaded.length,
        uploadedBytes: uploaded.reduce((n, f) => n + f.size, 0),
        totalBytes: files.reduce((n, f) => n + f.size, 0),
    };
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
function deploymentBody(files, project, target, meta = {}, options = {}) {
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
        files: files.map((f) => ({ file: f.file, sha: f.sha, size: f.size, mode: f.mode })),
    });
}


/***/ })

};
