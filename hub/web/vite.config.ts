/// <reference types="vitest/config" />
// Vite: builds the console into dist/ (embedded by the hub). In development it proxies the
// hub's routes to a running hub (CORBI_HUB_URL, default http://127.0.0.1:8080).
import { defineConfig, type Plugin, type ProxyOptions } from 'vite';
import react from '@vitejs/plugin-react';
import type { ServerResponse } from 'node:http';

const hub = process.env.CORBI_HUB_URL ?? 'http://127.0.0.1:8080';
// Development against a hub without browser sessions: CORBI_DEV_TOKEN (a personal access
// token) is added to every proxied request and /api/v1/me is answered here.
const devToken = process.env.CORBI_DEV_TOKEN;
const proxied: ProxyOptions = {
  target: hub,
  changeOrigin: false,
  xfwd: true,
  configure: (proxy) => {
    if (devToken) proxy.on('proxyReq', (req) => req.setHeader('Authorization', `Bearer ${devToken}`));
  },
};

function devSession(): Plugin {
  return {
    name: 'corbi-dev-session',
    configureServer(server) {
      if (devToken) server.middlewares.use('/api/v1/me', answerMe);
    },
    configurePreviewServer(server) {
      if (devToken) server.middlewares.use('/api/v1/me', answerMe);
    },
  };
}

function answerMe(_req: unknown, res: ServerResponse) {
  res.setHeader('Content-Type', 'application/json');
  res.end(
    JSON.stringify({
      user: { id: process.env.CORBI_DEV_USER_ID ?? 'dev', email: 'dev@example.com', name: 'Developer', role: process.env.CORBI_DEV_ROLE ?? 'admin' },
      tenant: { id: 'dev', slug: 'demo', name: 'Demo', time_zone: process.env.CORBI_DEV_ZONE ?? 'Europe/Berlin' },
      csrf_token: 'dev',
    }),
  );
}

export default defineConfig({
  plugins: [react(), devSession()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: { '/api': proxied, '/auth': proxied, '/oauth': proxied },
  },
  preview: {
    proxy: { '/api': proxied, '/auth': proxied, '/oauth': proxied },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
