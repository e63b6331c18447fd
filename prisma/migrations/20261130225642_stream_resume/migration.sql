-- AlterTable
ALTER TABLE "stream_pauses" ADD COLUMN     "resumed_at" TIMESTAMPTZ(3);
