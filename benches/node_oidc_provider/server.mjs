// node-oidc-provider with RFC 7591 registration and RFC 7592 management, on
// 127.0.0.1 only, as a baseline for benches/http_load.sh: the registration
// endpoint at /register, as in the example server, so the same wrk scripts
// drive both. Its in-memory adapter, like `--store memory`.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 18183);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  routes: { registration: '/register' },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    registrationManagement: { enabled: true, rotateRegistrationAccessToken: false },
  },
  scopes: ['openid', 'profile', 'email', 'offline_access'],
});
provider.proxy = false;
provider.listen(port, '127.0.0.1');
