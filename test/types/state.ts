// ctx.state is typed by declaration merging, as the README shows.
import { createLoadBalancer } from 'switchyard-lb';

declare module 'switchyard-lb' {
  interface SwitchyardState {
    tenant?: string;
  }
}

createLoadBalancer({
  middleware: [
    {
      name: 'tenant',
      before: 'select',
      handle: async (ctx, next) => {
        const tenant = ctx.req.headers['x-tenant'];
        ctx.state.tenant = typeof tenant === 'string' ? tenant : undefined;
        // @ts-expect-error only declared keys exist
        ctx.state.other = 1;
        await next();
      },
    },
  ],
});
