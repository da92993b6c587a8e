/// <reference types="vitest/config" />
// Vite: builds the console into dist/ (embedded by the hub). In development it proxies the
// hub's routes to a running hub (CORBI_HUB_URL, default http://127.0.0.1:8080).
import { defineConfig, type ProxyOptions } from 'vite';
import react from '@vitejs/plugin-react';

const hub = process.env.CORBI_HUB_URL ?? 'http://127.0.0.1:8080';
// The hub checks that changes come from its own origin, so run it with PUBLIC_URL set to this
// dev server's URL and sign in through a `hub user login-link` that then points here.
const proxied: ProxyOptions = { target: hub, changeOrigin: false, xfwd: true };

export default defineConfig({
  plugins: [react()],
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
