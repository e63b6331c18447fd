import { defineConfig } from 'prisma/config'

// The CLI reads the connection from here; the application builds its own client from config.ts.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    url: process.env.DATABASE_URL ?? 'postgresql://hikyaku:hikyaku@127.0.0.1:5432/hikyaku',
  },
})
