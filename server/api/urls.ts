// Public URLs handed to clients, from configuration or the listeners' real ports.
export interface PublicUrls {
  http: string;
  rtmp: string;
}

export function streamUrls(urls: PublicUrls, id: string, streamKey: string) {
  return {
    rtmpUrl: `${urls.rtmp}/${streamKey}`,
    rtmpServer: urls.rtmp,
    hlsUrl: `${urls.http}/v1/streams/${id}/hls/index.m3u8`,
    playerUrl: `${urls.http}/player.html?stream=${id}`,
    whipUrl: `${urls.http}/v1/streams/${id}/whip`,
    whepUrl: `${urls.http}/v1/streams/${id}/whep`,
  };
}

export function displayHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}
