export const id=276,ids=[276],modules={14276:(module=>{module.exports=eval("require")("@node-rs/xxhash")})};
