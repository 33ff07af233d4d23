// Prepended to the bundles (scripts/bundle.mjs) so they run on Node 20, which devices keep long after its end of
// life: libp2p 3 and its helpers call these Node 22 built-ins. Each is defined only where the runtime lacks it.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers() {
      let resolve;
      let reject;
      const promise = new this((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}
