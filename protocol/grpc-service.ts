// The gRPC `net.Orchestrator` service definition for @grpc/grpc-js, with the
// protobufjs codec from messages.ts (one codec for headers and RPCs).
import type * as grpc from "@grpc/grpc-js";
import {
  decodeMessage,
  encodeMessage,
  type EndTranscodingSessionRequest,
  type EndTranscodingSessionResponse,
  type MessageName,
  type MessageTypes,
  type OrchestratorInfo,
  type OrchestratorRequest,
  type PingPong,
} from "./messages.ts";

function method<Req extends MessageName, Res extends MessageName>(
  name: string,
  req: Req,
  res: Res,
): grpc.MethodDefinition<MessageTypes[Req], MessageTypes[Res]> {
  return {
    path: `/net.Orchestrator/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (v) => encodeMessage(req, v),
    requestDeserialize: (b) => decodeMessage(req, b),
    responseSerialize: (v) => encodeMessage(res, v),
    responseDeserialize: (b) => decodeMessage(res, b),
  };
}

export const OrchestratorService = {
  GetOrchestrator: method("GetOrchestrator", "OrchestratorRequest", "OrchestratorInfo"),
  EndTranscodingSession: method("EndTranscodingSession", "EndTranscodingSessionRequest", "EndTranscodingSessionResponse"),
  Ping: method("Ping", "PingPong", "PingPong"),
} satisfies grpc.ServiceDefinition;

/** Server-side handlers for the Orchestrator service. */
export interface OrchestratorHandlers {
  getOrchestrator(req: OrchestratorRequest, peer: string): Promise<OrchestratorInfo> | OrchestratorInfo;
  endTranscodingSession?(req: EndTranscodingSessionRequest): Promise<EndTranscodingSessionResponse> | EndTranscodingSessionResponse;
  ping?(req: PingPong): Promise<PingPong> | PingPong;
}

/** Error a handler can throw to choose the gRPC status code. */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
    this.name = "GrpcStatusError";
  }
}
