// The one JSON error shape of Wharf's own API: {"error": "<status text>", "message": "<what is wrong>"}.
import { STATUS_CODES } from "node:http";

export interface ErrorBody {
  error: string;
  message: string;
}

export function errorBody(status: number, message: string): ErrorBody {
  return { error: STATUS_CODES[status] ?? "Error", message };
}
