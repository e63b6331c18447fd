# One image for every Hikyaku process; the command picks the role (api, worker, all, migrate, …).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY bin ./bin
COPY scripts/copy-assets.mjs ./scripts/
COPY src ./src
# postinstall generates the Prisma client and compiles TypeScript into dist/.
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production HIKYAKU_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/prisma ./prisma
USER node
ENTRYPOINT ["node", "bin/hikyaku.js"]
CMD ["all"]
