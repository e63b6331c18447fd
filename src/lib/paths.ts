import { fileURLToPath } from 'node:url'

/** The package root, from `src/lib` under tsx and from `dist/lib` when built. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url))

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url))
