/** WebSocket close codes Tideline uses, and why. */
export const CLOSE_GOING_AWAY = 1001; // server shutting down
export const CLOSE_MESSAGE_TOO_BIG = 1009; // frame over MAX_MESSAGE_BYTES (sent by ws itself)
export const CLOSE_TRY_AGAIN_LATER = 1013; // slow consumer: send buffer over SEND_BUFFER_LIMIT_BYTES
