// Lets Node 24 run this repository's TypeScript directly (type stripping): a relative `./x.js`
// specifier that has no `.js` file resolves to the `./x.ts` source, as TypeScript's NodeNext does.
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (error?.code === 'ERR_MODULE_NOT_FOUND' && /^\.{1,2}\/.*\.js$/.test(specifier)) {
        return nextResolve(specifier.replace(/\.js$/, '.ts'), context);
      }
      throw error;
    }
  },
});
