import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** Pauses between tries to delete a staging object: together they outlast a short store outage. */
const DELETE_RETRY_DELAYS_MS = [250, 1_000, 2_000, 4_000, 8_000];

/**
 * Deletes a staging object (a complete copy already moved into place, or one a crashed attempt
 * left), trying again through a short store outage: a staging object left behind costs storage
 * until the bucket's lifecycle rule collects it. Deliberately without the caller's signal, so it
 * runs after a cancellation too. Never throws: the copy's own outcome matters more.
 */
export async function deleteStagingObject(client: S3Client, bucket: string, key: string, delaysMs: readonly number[] = DELETE_RETRY_DELAYS_MS): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch {
      const delayMs = delaysMs[attempt];
      if (delayMs === undefined) return false;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
